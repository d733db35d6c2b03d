package relay

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// TestHugeReplyIsCutOff: a receiver that sends an endless reply (here a
// greeting line that never ends) is cut off once it passes
// maxReplyBytes, instead of filling the relay's memory until the command
// timeout; the attempt is deferred at once.
func TestHugeReplyIsCutOff(t *testing.T) {
	t.Parallel()
	addr := startFakeMX(t, net.ListenConfig{}, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(2 * waitLimit))
		c.Write([]byte("220 "))
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for range 512 { // 32 MiB, then silence
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
		var b [1]byte
		c.Read(b[:])
	})
	e := newEnv(t, nil)
	e.dialer.set("mx.remote.test:25", addr)
	enqueueData(t, e, "alice@example.org", "bob@remote.test", "From: <alice@example.org>\r\nSubject: x\r\n\r\nhi\r\n")
	opts := e.options()
	opts.CommandTimeout = time.Minute // the bound must not be the timeout
	e.start(opts)
	e.waitIdle()
	q := e.queue()
	if len(q) != 1 || q[0].Attempts != 1 {
		t.Fatalf("queue %+v, want the message deferred after one attempt; log:\n%s", q, e.logs)
	}
}
