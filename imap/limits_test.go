package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"pillarbox/mailbox"
	"pillarbox/mailbox/netlimit"
	"pillarbox/store/sqlite"
)

// The library's read deadlines are constants (30 s for a command, 35 min
// after login and in IDLE), so the timeout tests run in a synctest
// bubble on fake time, over net.Pipe connections.

// pipeListener hands the server the far ends of net.Pipe connections.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	srv   *Server // the server serving it (startPipeServer)
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a loopback address, so that LOGIN works without TLS.
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 143} }

// startPipeServer runs a server for alice@example.org on a pipeListener,
// with STARTTLS, or with implicit TLS over a netlimit.Listener (as
// serve.go wires it); call it inside the bubble.
func startPipeServer(t *testing.T, implicitTLS bool) *pipeListener {
	t.Helper()
	// SQLite whatever the driver under test: the test runs in a synctest
	// bubble, which a connection to a PostgreSQL server would leave.
	db, svc, log := sqliteService(t, sqlite.Options{}, "alice")
	tlsConf := testTLS(t)
	srv := New(svc, Options{TLS: tlsConf, Logger: log})
	ln := newPipeListener()
	ln.srv = srv
	served := make(chan error, 1)
	var sln net.Listener = ln
	if implicitTLS {
		sln = tls.NewListener(netlimit.NewListener(ln, netlimit.Options{Logger: log}), tlsConf)
	}
	go func() { served <- srv.Serve(sln) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-served
		db.Close()
	})
	return ln
}

// dialPipe connects to ln, over TLS if useTLS, and reads the greeting;
// user != "" logs in.
func dialPipe(t *testing.T, ln *pipeListener, useTLS bool, user string) *rawConn {
	t.Helper()
	var c, s net.Conn
	c, s = net.Pipe()
	ln.conns <- s
	if useTLS {
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	if greeting := rc.line(); !strings.HasPrefix(greeting, "* OK") {
		t.Fatalf("greeting %q", greeting)
	}
	if user != "" {
		rc.ok("LOGIN " + user + "@example.org " + testPassword)
	}
	return rc
}

// rest collects what the server sends from now until it closes the
// connection.
func (c *rawConn) rest() <-chan string {
	out := make(chan string, 1)
	c.c.SetReadDeadline(time.Time{})
	go func() {
		b, _ := io.ReadAll(c.r)
		out <- string(b)
	}()
	return out
}

// wantClosedWith checks that the connection was closed after sending
// exactly want.
func wantClosedWith(t *testing.T, rest <-chan string, want string) {
	t.Helper()
	synctest.Wait()
	select {
	case got := <-rest:
		if got != want {
			t.Fatalf("the server sent %q before closing, want %q", got, want)
		}
	default:
		t.Fatal("the connection is still open")
	}
}

const byeTimeout = "* BYE Autologout; timed out waiting for the client\r\n"

// TestPartialCommandCannotHoldConnection: the library answered a command
// whose line never ended with NO or BAD when its 30 s passed, and then
// waited again, so a client sending a byte now and then held its
// connection for ever. Now the connection ends at that first timeout.
func TestPartialCommandCannotHoldConnection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		user    string
		useTLS  bool
		input   string
		trickle bool // then an "I" every 5 s
	}{
		// The command's name is complete, so the timeout comes in the
		// middle of its arguments, inside the library's handler.
		{name: "login arguments", input: "a LOGIN alice@example.org sec"},
		{name: "logged in", user: "alice", input: "a SELECT INB"},
		{name: "implicit TLS", user: "alice", useTLS: true, input: "a SELECT INB"},
		// Bytes trickled into the arguments do not extend the 30 s.
		{name: "trickled", user: "alice", input: "a SELECT ", trickle: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ln := startPipeServer(t, tc.useTLS)
				c := dialPipe(t, ln, tc.useTLS, tc.user)
				io.WriteString(c.c, tc.input)
				if tc.trickle {
					done := make(chan struct{})
					defer close(done)
					go func() {
						for {
							select {
							case <-done:
								return
							case <-time.After(5 * time.Second):
							}
							if _, err := io.WriteString(c.c, "I"); err != nil {
								return
							}
						}
					}()
				}
				rest := c.rest()
				time.Sleep(31 * time.Second)
				wantClosedWith(t, rest, byeTimeout)
			})
		})
	}
}

// TestSilentTLSClient: a client that never starts its TLS handshake,
// on implicit TLS or after STARTTLS, is closed when the wait for a
// command would end. The library did the implicit handshake inside its
// first write with no deadline at all, so such a client held its
// connection for ever; and after STARTTLS, a BYE written through TLS
// from the handshake's own timed-out read would wait for the handshake's
// lock for ever.
func TestSilentTLSClient(t *testing.T) {
	t.Parallel()
	for _, implicit := range []bool{true, false} {
		t.Run(fmt.Sprintf("implicit=%v", implicit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ln := startPipeServer(t, implicit)
				var c *rawConn
				if implicit {
					cc, s := net.Pipe()
					ln.conns <- s
					t.Cleanup(func() { cc.Close() })
					c = &rawConn{t: t, c: cc, r: bufio.NewReader(cc)}
				} else {
					c = dialPipe(t, ln, false, "")
					c.ok("STARTTLS")
				}
				rest := c.rest()
				time.Sleep(31 * time.Second)
				wantClosedWith(t, rest, "")
			})
		})
	}
}

// TestIdleTimeoutIsFinal: IDLE lasts past the 29 minutes after which
// RFC 2177 clients renew it, and ends for good at the library's 35
// minutes, where it used to answer NO and wait again.
func TestIdleTimeoutIsFinal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ln := startPipeServer(t, false)
		c := dialPipe(t, ln, false, "alice")
		c.ok("SELECT INBOX")
		tag := c.send("IDLE")
		if l := c.line(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("IDLE: %q", l)
		}
		time.Sleep(34 * time.Minute)
		io.WriteString(c.c, "DONE\r\n")
		if _, st := c.until(tag); !strings.HasPrefix(st, "OK") {
			t.Fatalf("IDLE after 34 min: %s", st)
		}

		c.send("IDLE")
		if l := c.line(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("IDLE: %q", l)
		}
		rest := c.rest()
		time.Sleep(36 * time.Minute)
		wantClosedWith(t, rest, byeTimeout)
	})
}

// TestConnectionCaps: a client over a cap gets a BYE greeting at once,
// and the sessions already open go on.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := netlimit.NewListener(inner, netlimit.Options{MaxConns: 2, MaxConnsPerIP: 1, Refusal: e.srv.Refusal(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go e.srv.Serve(ln)
	addr := ln.Addr().String()
	const refused = "* BYE [UNAVAILABLE] Too many connections\r\n"

	dialFrom := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	wantRefused := func(c net.Conn) {
		t.Helper()
		got, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("refused connection: %v", err)
		}
		if string(got) != refused {
			t.Fatalf("refused connection got %q, want %q", got, refused)
		}
	}

	a := dialRaw(t, addr, "alice")
	wantRefused(dialFrom("127.0.0.1"))
	b := &rawConn{t: t, c: dialFrom("127.0.0.2")}
	b.r = bufio.NewReader(b.c)
	if l := b.line(); !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting from another address: %q", l)
	}
	wantRefused(dialFrom("127.0.0.3"))
	a.ok("SELECT INBOX")

	// A session that logs out frees its slot.
	a.cmd("LOGOUT")
	if rest, err := io.ReadAll(a.r); err != nil || len(rest) > 0 {
		t.Fatalf("after LOGOUT: %q, %v", rest, err)
	}
	dialRaw(t, addr, "bob").ok("SELECT INBOX")
}

// TestPreAuthLifetime: a client that keeps a connection busy without
// logging in (a NOOP every 20 s, inside every per-command wait) is cut off
// when preAuthLifetime ends.
func TestPreAuthLifetime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ln := startPipeServer(t, false)
		c := dialPipe(t, ln, false, "")
		for elapsed := time.Duration(0); elapsed+20*time.Second < 5*time.Minute; elapsed += 20 * time.Second {
			time.Sleep(20 * time.Second)
			c.ok("NOOP")
		}
		// The last NOOP was at 4:40; its wait would last until 5:10, the
		// lifetime ends at 5:00.
		rest := c.rest()
		time.Sleep(25 * time.Second)
		wantClosedWith(t, rest, byeTimeout)
	})
}

// TestSlowAppendAccepted: an APPEND's literal gets time by its size (a
// 4 KiB/s link): 35,000 octets at 1,000 a second arrive after the 30 s a
// command line gets, and are stored (the whole command had to arrive
// within 30 s of its first byte, and the client got no answer).
func TestSlowAppendAccepted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ln := startPipeServer(t, false)
		c := dialPipe(t, ln, false, "alice")
		msg := "From: a\r\nSubject: slow\r\n\r\n" + strings.Repeat("x", 35000) + "\r\n"
		tag := c.send(fmt.Sprintf("APPEND INBOX {%d}", len(msg)))
		if l := c.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("no continuation: %q", l)
		}
		for i := 0; i < len(msg); i += 1000 {
			if _, err := io.WriteString(c.c, msg[i:min(i+1000, len(msg))]); err != nil {
				t.Fatalf("cut off after %d octets: %v", i, err)
			}
			time.Sleep(time.Second)
		}
		io.WriteString(c.c, "\r\n")
		if _, st := c.until(tag); !strings.HasPrefix(st, "OK") {
			t.Fatalf("slow APPEND: %s", st)
		}
	})
}

// TestShutdownBoundedByDeadline: Shutdown's deadline bounds a session
// whose command holds the writer (an APPEND waiting for its literal):
// the BYE waited for the command, and Shutdown with it, for as long as
// the client took.
func TestShutdownBoundedByDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ln := startPipeServer(t, false)
		c := dialPipe(t, ln, false, "alice")
		c.send("APPEND INBOX {100}")
		if l := c.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("no continuation: %q", l)
		}
		rest := c.rest()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		ln.srv.Shutdown(ctx)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Shutdown with a 1 s deadline took %v", took)
		}
		wantClosedWith(t, rest, "")
	})
}

// sqliteService opens a SQLite store with opts and a Service over it
// with the given users of example.org, whatever the driver under test.
func sqliteService(t *testing.T, opts sqlite.Options, users ...string) (*sqlite.DB, *mailbox.Service, *slog.Logger) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := svc.AddUser(context.Background(), u+"@example.org", testPassword); err != nil {
			t.Fatal(err)
		}
	}
	return db, svc, log
}

// TestUnauthenticateAfterPreAuthLifetime: UNAUTHENTICATE (RFC 8437)
// returns a session to the not-authenticated state, in which the client
// may log in again. The pre-login lifetime counted from the connection:
// a session older than preAuthLifetime was told BYE at once after
// UNAUTHENTICATE's OK, so nobody could log in again on it. The lifetime
// now starts again when the session leaves the authenticated state.
func TestUnauthenticateAfterPreAuthLifetime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ln := startPipeServer(t, false)
		c := dialPipe(t, ln, false, "alice")
		time.Sleep(preAuthLifetime + time.Minute)
		c.ok("NOOP")
		c.ok("UNAUTHENTICATE")
		c.ok("LOGIN alice@example.org " + testPassword)
		c.ok("SELECT INBOX")
	})
}
