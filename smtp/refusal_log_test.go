package smtp

import (
	"crypto/tls"
	"log/slog"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// wantLogged checks that the log has a refusal line for command naming
// the loopback client and the reply.
func wantLogged(t *testing.T, log, command, reply string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="smtp: refused"`) && strings.Contains(line, "command="+command+" ") &&
			strings.Contains(line, "remote=127.0.0.1") && strings.Contains(line, reply) {
			return
		}
	}
	t.Errorf("no refusal of %s with %q logged in:\n%s", command, reply, log)
}

func TestMXRefusalsAreLogged(t *testing.T) {
	t.Parallel()
	log := &subLog{}
	e := startMX(t, envOptions{opts: Options{MaxMessageBytes: 200, Logger: slog.New(slog.NewTextHandler(log, nil))}})
	tc, _ := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.test", 250)
	cmd(t, tc, "MAIL FROM:<a@@b>", 553)
	cmd(t, tc, "MAIL FROM:<x@remote.test>", 250)
	cmd(t, tc, "RCPT TO:<nobody@example.org>", 550)
	cmd(t, tc, "RCPT TO:<someone@elsewhere.test>", 554)
	cmd(t, tc, "RCPT TO:<bob@example.org>", 250)
	cmd(t, tc, "DATA", 354)
	cmd(t, tc, "Subject: big\r\n\r\n"+strings.Repeat("x", 300)+"\r\n.", 552)
	got := log.String()
	wantLogged(t, got, "MAIL", "Bad sender address syntax")
	wantLogged(t, got, "RCPT", "nobody@example.org")
	wantLogged(t, got, "RCPT", "someone@elsewhere.test")
	wantLogged(t, got, "DATA", "552")
}

func TestSubmissionRefusalsAreLogged(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 1<<20)
	nc, err := tls.Dial("tcp", e.tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	tc := textproto.NewConn(nc)
	if _, _, err := tc.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	cmd(t, tc, "EHLO client.test", 250)
	cmd(t, tc, "MAIL FROM:<alice@example.org>", 530)
	cmd(t, tc, "AUTH CRAM-MD5", 504)
	got := e.log.String()
	wantLogged(t, got, "MAIL", "Authentication required")
	wantLogged(t, got, "AUTH", "CRAM-MD5")
}
