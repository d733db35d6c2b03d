package imap

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/storetest"
)

// testEnv is a server on 127.0.0.1:0 over a store in a temp dir, with
// the users alice and bob (password "secret") in example.org.
type testEnv struct {
	t    testing.TB
	db   store.Store
	svc  *mailbox.Service
	srv  *Server
	addr string
	opts Options
}

const testPassword = "secret"

// newEnv starts a server. The server stops when the test ends.
func newEnv(t testing.TB) *testEnv {
	t.Helper()
	return newEnvAt(t, storetest.New(t, pg), Options{}, true)
}

func newEnvAt(t testing.TB, loc storetest.Location, opts Options, users bool) *testEnv {
	t.Helper()
	return startEnv(t, loc, opts, users, nil)
}

// startEnv is newEnvAt that lets configure set the server's test hooks
// before it serves.
func startEnv(t testing.TB, loc storetest.Location, opts Options, users bool, configure func(*Server)) *testEnv {
	t.Helper()
	db := loc.Open(t)
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if users {
		for _, u := range []string{"alice@example.org", "bob@example.org"} {
			if err := svc.AddUser(context.Background(), u, testPassword); err != nil {
				t.Fatal(err)
			}
		}
	}
	if opts.Throttle == nil {
		opts.Throttle = mailbox.NewThrottle(mailbox.ThrottleOptions{Base: time.Millisecond, Max: 4 * time.Millisecond})
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	e := &testEnv{t: t, db: db, svc: svc, opts: opts}
	e.srv = New(svc, opts)
	if configure != nil {
		configure(e.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		db.Close()
	})
	return e
}

// testWriter sends the server's log to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// client dials the server and logs in as user (a local part).
func (e *testEnv) client(user string) *imapclient.Client {
	e.t.Helper()
	return e.clientWith(user, nil)
}

func (e *testEnv) clientWith(user string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	e.t.Helper()
	c, err := imapclient.DialInsecure(e.addr, &imapclient.Options{UnilateralDataHandler: h})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Login(user+"@example.org", testPassword).Wait(); err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// deliver delivers a message to a local user as SMTP would.
func (e *testEnv) deliver(user, msg string) {
	e.t.Helper()
	ctx := context.Background()
	a, err := mailbox.ParseAddress(user + "@example.org")
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := e.svc.Resolve(ctx, a)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.Deliver(ctx, &mailbox.Delivery{From: "sender@example.net", Recipients: []mailbox.Recipient{r},
		Data: []byte(crlf(msg))}); err != nil {
		e.t.Fatal(err)
	}
}

// testMessage is a small message numbered n.
func testMessage(n int) string {
	return crlf(fmt.Sprintf("From: Sender %d <sender%d@example.net>\nTo: alice@example.org\nSubject: message %d\n"+
		"Date: Mon, 2 Jan 2023 15:04:05 +0000\nMessage-ID: <m%d@example.net>\n\nbody of message %d\n", n, n, n, n, n))
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// rawConn speaks IMAP by hand, for checking responses exactly.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	tag  int
	wait time.Duration // for each response line; zero: 10 s
}

// raw dials the server and, unless user is "", logs in.
func (e *testEnv) raw(user string) *rawConn {
	e.t.Helper()
	return dialRaw(e.t, e.addr, user)
}

func dialRaw(t testing.TB, addr, user string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
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

var literalRE = regexp.MustCompile(`~?\{(\d+)\}$`)

// line reads one response line, with its literals inlined.
func (c *rawConn) line() string {
	c.t.Helper()
	wait := c.wait
	if wait == 0 {
		wait = 10 * time.Second
	}
	c.c.SetReadDeadline(time.Now().Add(wait))
	var b strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (after %q)", err, b.String()+l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		m := literalRE.FindStringSubmatch(l)
		if m == nil {
			return b.String()
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			c.t.Fatalf("read literal: %v", err)
		}
		b.WriteString("\r\n")
		b.Write(buf)
	}
}

// send writes a command line and returns its tag.
func (c *rawConn) send(line string) string {
	c.t.Helper()
	c.tag++
	tag := fmt.Sprintf("t%d", c.tag)
	if _, err := io.WriteString(c.c, tag+" "+line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return tag
}

// cmd runs a command and returns its untagged responses and the tagged
// one without the tag.
func (c *rawConn) cmd(line string) (untagged []string, status string) {
	c.t.Helper()
	tag := c.send(line)
	return c.until(tag)
}

// until reads responses up to the one tagged tag.
func (c *rawConn) until(tag string) (untagged []string, status string) {
	c.t.Helper()
	for {
		l := c.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command that must succeed and returns its untagged responses.
func (c *rawConn) ok(line string) []string {
	c.t.Helper()
	u, st := c.cmd(line)
	if !strings.HasPrefix(st, "OK") {
		c.t.Fatalf("%s: %s (untagged %q)", line, st, u)
	}
	return u
}

// expect runs a command whose status must start with want.
func (c *rawConn) expect(line, want string) []string {
	c.t.Helper()
	u, st := c.cmd(line)
	if !strings.HasPrefix(st, want) {
		c.t.Fatalf("%s: got %q, want %q... (untagged %q)", line, st, want, u)
	}
	return u
}

// appendMsg appends a message with a synchronizing literal.
func (c *rawConn) appendMsg(mbox, flags, msg string) string {
	c.t.Helper()
	msg = crlf(msg)
	c.tag++
	tag := fmt.Sprintf("t%d", c.tag)
	fmt.Fprintf(c.c, "%s APPEND %s %s{%d}\r\n", tag, mbox, flags, len(msg))
	if l := c.line(); !strings.HasPrefix(l, "+") {
		c.t.Fatalf("APPEND: no continuation: %q", l)
	}
	io.WriteString(c.c, msg+"\r\n")
	_, st := c.until(tag)
	if !strings.HasPrefix(st, "OK") {
		c.t.Fatalf("APPEND: %s", st)
	}
	return st
}

// contains fails the test unless some line contains every want.
func contains(t testing.TB, lines []string, want ...string) {
	t.Helper()
	for _, l := range lines {
		all := true
		for _, w := range want {
			if !strings.Contains(l, w) {
				all = false
				break
			}
		}
		if all {
			return
		}
	}
	t.Fatalf("no line contains %q in:\n%s", want, strings.Join(lines, "\n"))
}

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
