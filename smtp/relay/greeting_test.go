package relay

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestRefusingGreetingDefers: a host that greets with 554 (RFC 5321 3.1:
// no SMTP service here, for this client now) refuses the connection,
// not the message: the mail is deferred, as Postfix's
// smtp_skip_5xx_greeting does, never bounced at the first attempt.
func TestRefusingGreetingDefers(t *testing.T) {
	t.Parallel()
	addr := startFakeMX(t, net.ListenConfig{}, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		c.Write([]byte("554 5.7.1 mx.remote.test no service for you now\r\n"))
		var b [512]byte
		c.Read(b[:]) // QUIT, or nothing
	})
	e := newEnv(t, nil)
	e.dialer.set("mx.remote.test:25", addr)
	e.submit("greeting", "bob@remote.test")
	e.start(e.options())
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next attempt %v, want a deferral; log:\n%s", next, e.logs)
	}
	q := e.queue()
	if len(q) != 1 || !strings.Contains(q[0].LastReply, "554") {
		t.Fatalf("queue %+v, want the item deferred with the greeting kept", q)
	}
	if got := len(e.inbox("alice@example.org")); got != 0 {
		t.Errorf("alice got %d bounces", got)
	}
}
