package relay

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// startScriptedSink is an SMTP receiver on loopback that answers each
// command verb with the reply given in replies (default 250), and QUIT
// with 221. It reads no message data: a DATA answered with 354 is not
// what it is for.
func startScriptedSink(t *testing.T, replies map[string]string) string {
	t.Helper()
	return startFakeMX(t, net.ListenConfig{}, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		r := bufio.NewReader(c)
		c.Write([]byte("220 sink.test ESMTP\r\n"))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			switch rp, ok := replies[verb]; {
			case ok:
				c.Write([]byte(rp + "\r\n"))
			case verb == "EHLO" || verb == "HELO":
				c.Write([]byte("250-sink.test\r\n250 8BITMIME\r\n"))
			case verb == "QUIT":
				c.Write([]byte("221 2.0.0 bye\r\n"))
				return
			default:
				c.Write([]byte("250 2.0.0 ok\r\n"))
			}
		}
	})
}

// startFakeMX is a receiver on loopback, listening as lc does, that runs
// serve on each connection in a goroutine of its own and closes the
// connection when serve returns, until the test ends. It returns the
// receiver's address.
func startFakeMX(t *testing.T, lc net.ListenConfig, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestDataAnsweredWithout354: a server that answers DATA with 250 (or
// any code but 354) has not taken the message, which was never sent: the
// recipient is deferred, not recorded as delivered.
func TestDataAnsweredWithout354(t *testing.T) {
	t.Parallel()
	for _, rp := range []string{"250 2.0.0 ok", "251 2.1.5 will forward", "354x"} {
		t.Run(rp, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			e.dialer.set("mx.remote.test:25", startScriptedSink(t, map[string]string{"DATA": rp}))
			enqueueData(t, e, "alice@example.org", "bob@remote.test", "From: <alice@example.org>\r\nSubject: x\r\n\r\nhi\r\n")
			e.start(e.options())
			e.waitIdle()
			q := e.queue()
			if len(q) != 1 {
				t.Fatalf("queue holds %d items after DATA got %q, want the message still queued; log:\n%s", len(q), rp, e.logs)
			}
		})
	}
}
