package smtp

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pillarbox/mailbox/netlimit"
)

const (
	wantIdleReply = "421 4.4.2 mx.example.org Idle timeout, closing connection\r\n"
	wantDataReply = "421 4.4.2 mx.example.org Message transfer took too long, closing connection\r\n"
)

// readToEnd reads what the server sends until it closes the connection
// (a reset counts as closing), failing the test if it stays open for
// 10 s.
func readToEnd(t *testing.T, r io.Reader, nc net.Conn) string {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after 10 s; got %q", b)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading to the end: %v (got %q)", err, b)
	}
	return string(b)
}

// TestPartialLineCannotHoldConnection: a command line without its CRLF
// used to be answered when the read timed out, and the wait started
// again, so a client sending "NOOP" every ReadTimeout held its
// connection for ever with a few bytes. Now the first timeout is final.
func TestPartialLineCannotHoldConnection(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{opts: Options{ReadTimeout: time.Second}})

	t.Run("after EHLO", func(t *testing.T) {
		t.Parallel()
		tc, nc := rawConn(t, e.addr)
		cmd(t, tc, "EHLO client.example.net", 250)
		io.WriteString(nc, "NOOP")
		if got := readToEnd(t, tc.R, nc); got != wantIdleReply {
			t.Fatalf("after a partial line the server sent %q, want only %q", got, wantIdleReply)
		}
	})
	t.Run("before EHLO", func(t *testing.T) {
		// go-smtp makes the session only at EHLO: before it, the library
		// still answers the partial line, but the connection ends with
		// that timeout, and a second partial line gets no answer.
		t.Parallel()
		tc, nc := rawConn(t, e.addr)
		io.WriteString(nc, "NOOP")
		if code, _, err := tc.ReadResponse(250); err != nil {
			t.Fatalf("partial NOOP: %d %v", code, err)
		}
		io.WriteString(nc, "NOOP")
		got := readToEnd(t, tc.R, nc)
		if strings.Contains(got, "250") {
			t.Fatalf("a second partial line was answered: %q", got)
		}
		if got != "" && !strings.HasPrefix(got, "421 4.4.2 ") {
			t.Fatalf("after the timeout the server sent %q, want a 421 4.4.2 or nothing", got)
		}
	})
	t.Run("over STARTTLS", func(t *testing.T) {
		t.Parallel()
		tc, nc := rawConn(t, e.addr)
		cmd(t, tc, "EHLO client.example.net", 250)
		cmd(t, tc, "STARTTLS", 220)
		tlsc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		tlsc.SetDeadline(time.Now().Add(10 * time.Second))
		tt := textproto.NewConn(tlsc)
		cmd(t, tt, "EHLO client.example.net", 250)
		io.WriteString(tlsc, "NOOP")
		got, err := io.ReadAll(tt.R)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("TLS connection still open after 10 s; got %q", got)
		}
		if string(got) != wantIdleReply {
			t.Fatalf("over TLS, after a partial line the server sent %q (%v), want only %q", got, err, wantIdleReply)
		}
	})
	t.Run("implicit TLS", func(t *testing.T) {
		// As serve.go wires it: the netlimit.Listener beneath TLS.
		t.Parallel()
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := tls.NewListener(netlimit.NewListener(inner, netlimit.Options{}), testTLSConfig(t, "mx.example.org"))
		go e.srv.Serve(ln)
		tlsc, err := tls.Dial("tcp", inner.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tlsc.Close()
		tlsc.SetDeadline(time.Now().Add(10 * time.Second))
		tt := textproto.NewConn(tlsc)
		if _, _, err := tt.ReadResponse(220); err != nil {
			t.Fatal(err)
		}
		cmd(t, tt, "EHLO client.example.net", 250)
		io.WriteString(tlsc, "NOOP")
		got, err := io.ReadAll(tt.R)
		if string(got) != wantIdleReply {
			t.Fatalf("on implicit TLS, after a partial line the server sent %q (%v), want only %q", got, err, wantIdleReply)
		}
	})
}

// startTrickle writes one byte every 20 ms to w until the test ends or
// a write fails: a client sending a message at a byte at a time.
func startTrickle(t *testing.T, w io.Writer) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(w, "x"); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

// TestTrickledDataEndsAtLimit: a message sent a byte at a time ends at
// DataTimeout from the 354, although each byte comes well within
// ReadTimeout, and nothing is delivered.
func TestTrickledDataEndsAtLimit(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{opts: Options{ReadTimeout: time.Minute, DataTimeout: 300 * time.Millisecond}})
	for _, bdat := range []bool{false, true} {
		t.Run(fmt.Sprintf("BDAT=%v", bdat), func(t *testing.T) {
			t.Parallel()
			tc, nc := rawConn(t, e.addr)
			cmd(t, tc, "EHLO client.example.net", 250)
			cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
			cmd(t, tc, "RCPT TO:<carol@example.org>", 250)
			if bdat {
				io.WriteString(nc, "BDAT 100000 LAST\r\n")
			} else {
				cmd(t, tc, "DATA", 354)
			}
			startTrickle(t, nc)
			// readToEnd waits 10 s at most, well within ReadTimeout.
			if got := readToEnd(t, tc.R, nc); got != wantDataReply {
				t.Fatalf("trickled transfer ended with %q, want only %q", got, wantDataReply)
			}
		})
	}
	t.Cleanup(func() {
		if n := inboxCount(t, e, "carol@example.org"); n != 0 {
			t.Errorf("carol got %d messages from cut transfers", n)
		}
	})
}

// TestDataLimitLiftedAfterTransfer: a transfer within DataTimeout leaves
// no limit behind for the next commands on the connection.
func TestDataLimitLiftedAfterTransfer(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{opts: Options{ReadTimeout: time.Minute, DataTimeout: 300 * time.Millisecond}})
	c := dial(t, e.addr)
	if err := send(c, "zoe@example.net", []string{"carol@example.org"}, "Subject: 1\r\n\r\none\r\n"); err != nil {
		t.Fatal(err)
	}
	// Outlast the limit that the first transfer set, with the server
	// waiting for commands: they must all be answered.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range 10 {
		<-tick.C
		if err := c.Noop(); err != nil {
			t.Fatalf("NOOP after a finished transfer: %v", err)
		}
	}
	if err := send(c, "zoe@example.net", []string{"carol@example.org"}, "Subject: 2\r\n\r\ntwo\r\n"); err != nil {
		t.Fatal(err)
	}
}

// listenCapped serves e's server on another loopback listener with
// connection caps and the MX's refusal.
func listenCapped(t *testing.T, e *testEnv, opts netlimit.Options) *netlimit.Listener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Refusal = e.srv.Refusal()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ln := netlimit.NewListener(inner, opts)
	go e.srv.Serve(ln)
	return ln
}

func dialFrom(t *testing.T, src, addr string) (*bufio.Reader, net.Conn) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return bufio.NewReader(nc), nc
}

func wantGreeting(t *testing.T, r *bufio.Reader) {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(l, "220 ") {
		t.Fatalf("greeting %q, %v", l, err)
	}
}

// TestConnectionCaps: a client over the per-address or the total cap
// gets 421 4.7.0 at once, and those already connected go on.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	ln := listenCapped(t, e, netlimit.Options{MaxConns: 3, MaxConnsPerIP: 2})
	addr := ln.Addr().String()
	const refused = "421 4.7.0 mx.example.org Too many connections, try later\r\n"

	a := dial(t, addr)
	r, b := dialFrom(t, "127.0.0.1", addr)
	wantGreeting(t, r)
	r3, nc3 := dialFrom(t, "127.0.0.1", addr)
	if got := readToEnd(t, r3, nc3); got != refused {
		t.Fatalf("third connection from one address got %q, want %q", got, refused)
	}
	r4, _ := dialFrom(t, "127.0.0.2", addr)
	wantGreeting(t, r4)
	r5, nc5 := dialFrom(t, "127.0.0.3", addr)
	if got := readToEnd(t, r5, nc5); got != refused {
		t.Fatalf("connection over the total cap got %q, want %q", got, refused)
	}
	if err := send(a, "zoe@example.net", []string{"alice@example.org"}, "Subject: still here\r\n\r\nhi\r\n"); err != nil {
		t.Fatalf("a connection within the cap: %v", err)
	}

	// Once one quits, its slot is free again.
	io.WriteString(b, "QUIT\r\n")
	if got := readToEnd(t, r, b); !strings.HasPrefix(got, "221 ") {
		t.Fatalf("QUIT: %q", got)
	}
	r6, _ := dialFrom(t, "127.0.0.1", addr)
	wantGreeting(t, r6)
}

// faultyListener fails its first Accept with ENOBUFS, which go-smtp's
// Serve does not take for temporary and returns on.
type faultyListener struct {
	net.Listener
	once sync.Once
}

func (f *faultyListener) Accept() (net.Conn, error) {
	var failed bool
	f.once.Do(func() { failed = true })
	if failed {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ENOBUFS)}
	}
	return f.Listener.Accept()
}

func TestAcceptErrorKeepsServing(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := netlimit.NewListener(&faultyListener{Listener: inner}, netlimit.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	c := dial(t, inner.Addr().String())
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v after an accept error", err)
	default:
	}
}
