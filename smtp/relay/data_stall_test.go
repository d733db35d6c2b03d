package relay

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallBufDialer dials loopback only, with a small send buffer, so that a
// receiver that stops reading blocks the sender's writes soon.
type smallBufDialer struct{ target string }

func (d smallBufDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	if ap, err := netip.ParseAddrPort(d.target); err != nil || !ap.Addr().IsLoopback() {
		panic("test dialer: only loopback")
	}
	nd := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
	}}
	return nd.DialContext(ctx, network, d.target)
}

// TestDataStallTimesOut: a receiver that answers DATA with 354 and then
// stops reading must not hold the connection, and the message's leases,
// for ever (RFC 5321 4.5.3.2.5: the client times out a data block); the
// attempt ends as a deferral.
func TestDataStallTimesOut(t *testing.T) {
	t.Parallel()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	stalled := make(chan net.Conn, 1)
	addr := startFakeMX(t, lc, func(c net.Conn) {
		r := bufio.NewReader(c)
		c.Write([]byte("220 sink.test ESMTP\r\n"))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch strings.ToUpper(strings.Fields(line + " x")[0]) {
			case "EHLO":
				c.Write([]byte("250-sink.test\r\n250 8BITMIME\r\n"))
			case "DATA":
				c.Write([]byte("354 go on\r\n"))
				stalled <- c
				// Read no more; keep the connection open until the
				// test ends.
				<-t.Context().Done()
				return
			default:
				c.Write([]byte("250 2.0.0 ok\r\n"))
			}
		}
	})
	e := newEnv(t, nil)
	body := strings.Repeat("A long line of text to fill the window of a receiver that stopped reading.\r\n", 64<<10)
	enqueueData(t, e, "alice@example.org", "bob@remote.test", "From: <alice@example.org>\r\nSubject: big\r\n\r\n"+body)
	opts := e.options()
	opts.Dialer = smallBufDialer{target: addr}
	opts.CommandTimeout, opts.DataTimeout = time.Second, time.Second
	e.start(opts)
	select {
	case <-stalled:
	case <-time.After(waitLimit):
		t.Fatalf("no DATA; log:\n%s", e.logs)
	}
	e.waitIdle()
	q := e.queue()
	if len(q) != 1 || q[0].Attempts != 1 {
		t.Fatalf("queue %+v, want the message deferred after one attempt; log:\n%s", q, e.logs)
	}
}
