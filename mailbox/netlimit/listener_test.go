package netlimit

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const refusal = "421 busy\r\n"

// startEcho serves a Listener with opts on 127.0.0.1:0: each connection
// gets "hi\n" and then an echo of what it sends, until the client
// half-closes, when the server closes it.
func startEcho(t *testing.T, opts Options) (*Listener, string) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	l := NewListener(inner, opts)
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.WriteString(c, "hi\n")
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l, inner.Addr().String()
}

// client is one test connection from a given loopback address.
type client struct {
	t  *testing.T
	c  *net.TCPConn
	br *bufio.Reader
}

func dialFrom(t *testing.T, src, addr string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c.(*net.TCPConn), br: bufio.NewReader(c)}
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading: %v (got %q)", err, l)
	}
	return l
}

// wantServed checks that the connection was accepted and echoes.
func (c *client) wantServed() {
	c.t.Helper()
	if l := c.line(); l != "hi\n" {
		c.t.Fatalf("greeting = %q, want hi", l)
	}
	c.wantEcho()
}

func (c *client) wantEcho() {
	c.t.Helper()
	io.WriteString(c.c, "ping\n")
	if l := c.line(); l != "ping\n" {
		c.t.Fatalf("echo = %q", l)
	}
}

// wantRefused checks that the connection got exactly the refusal and
// was closed.
func (c *client) wantRefused(want string) {
	c.t.Helper()
	got, err := io.ReadAll(c.br)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("reading refusal: %v", err)
	}
	if string(got) != want {
		c.t.Fatalf("refused connection got %q, want %q", got, want)
	}
}

// hangUp half-closes and waits until the server has closed its side.
func (c *client) hangUp() {
	c.t.Helper()
	c.c.CloseWrite()
	if rest, err := io.ReadAll(c.br); err != nil || len(rest) > 0 {
		c.t.Fatalf("after hang-up: %q, %v", rest, err)
	}
}

func TestPerIPCap(t *testing.T) {
	t.Parallel()
	l, addr := startEcho(t, Options{MaxConns: 10, MaxConnsPerIP: 2, Refusal: []byte(refusal)})
	a := dialFrom(t, "127.0.0.1", addr)
	a.wantServed()
	b := dialFrom(t, "127.0.0.1", addr)
	b.wantServed()
	dialFrom(t, "127.0.0.1", addr).wantRefused(refusal)
	// Another address has slots of its own, and those already in keep
	// working.
	dialFrom(t, "127.0.0.2", addr).wantServed()
	a.wantEcho()
	b.wantEcho()
	if n := l.Open(); n != 3 {
		t.Errorf("Open() = %d, want 3", n)
	}
	// A closed connection frees its slot.
	a.hangUp()
	dialFrom(t, "127.0.0.1", addr).wantServed()
}

func TestTotalCap(t *testing.T) {
	t.Parallel()
	_, addr := startEcho(t, Options{MaxConns: 2, MaxConnsPerIP: 2, Refusal: []byte(refusal)})
	a := dialFrom(t, "127.0.0.1", addr)
	a.wantServed()
	dialFrom(t, "127.0.0.2", addr).wantServed()
	dialFrom(t, "127.0.0.3", addr).wantRefused(refusal)
	a.wantEcho()
	a.hangUp()
	dialFrom(t, "127.0.0.3", addr).wantServed()
}

func TestRefusalWithoutWords(t *testing.T) {
	t.Parallel()
	_, addr := startEcho(t, Options{MaxConns: 1})
	dialFrom(t, "127.0.0.1", addr).wantServed()
	dialFrom(t, "127.0.0.1", addr).wantRefused("")
}

// TestCloseTwiceFreesOneSlot: a connection closed by both TLS and the
// server must not free two slots.
func TestCloseTwiceFreesOneSlot(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, Options{MaxConns: 1})
	defer l.Close()
	// The kernel completes both handshakes before any Accept.
	for range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if n := l.Open(); n != 0 {
		t.Fatalf("Open() after two Close = %d, want 0", n)
	}
	c2, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if n := l.Open(); n != 1 {
		t.Fatalf("Open() = %d, want 1", n)
	}
	c2.Close()
}

// faultyListener fails its first Accepts with errs, then accepts from
// conns.
type faultyListener struct {
	mu    sync.Mutex
	errs  []error
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (f *faultyListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	select {
	case c := <-f.conns:
		return c, nil
	case <-f.done:
		return nil, net.ErrClosed
	}
}

func (f *faultyListener) Close() error {
	f.once.Do(func() { close(f.done) })
	return nil
}

func (f *faultyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// TestAcceptSurvivesErrors: running out of descriptors or kernel memory
// must not end the listener. go-smtp and go-imap return from Serve on
// an accept error they do not deem temporary, such as ENOBUFS.
func TestAcceptSurvivesErrors(t *testing.T) {
	t.Parallel()
	var logged strings.Builder
	f := &faultyListener{
		errs:  []error{acceptErr(syscall.EMFILE), acceptErr(syscall.ENFILE), acceptErr(syscall.ENOBUFS), acceptErr(syscall.ENOMEM)},
		conns: make(chan net.Conn, 1),
		done:  make(chan struct{}),
	}
	server, client := net.Pipe()
	defer client.Close()
	f.conns <- server
	l := NewListener(f, Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	defer l.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept = %v, want the connection after the errors", err)
	}
	if Of(c) == nil || Of(c).Conn != server {
		t.Fatalf("Accept returned %T, not the pipe's server end", c)
	}
	c.Close()
	if n := strings.Count(logged.String(), "accept failed"); n != 4 {
		t.Errorf("logged %d accept failures, want 4:\n%s", n, logged.String())
	}
}

func TestCloseStopsRetrying(t *testing.T) {
	t.Parallel()
	errs := make([]error, 1000)
	for i := range errs {
		errs[i] = acceptErr(syscall.EMFILE)
	}
	f := &faultyListener{errs: errs, done: make(chan struct{})}
	l := NewListener(f, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	res := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		res <- err
	}()
	l.Close()
	select {
	case err := <-res:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still retrying after Close")
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr, want string
	}{
		{"192.0.2.1:25", "192.0.2.1/32"},
		{"[::ffff:192.0.2.1]:25", "192.0.2.1/32"},
		{"[2001:db8:1:2:3:4:5:6]:143", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::ffff]:143", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:143", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:25", "fe80::/64"},
	} {
		ap := netip.MustParseAddrPort(tc.addr)
		for _, a := range []net.Addr{net.TCPAddrFromAddrPort(ap), &net.UDPAddr{IP: ap.Addr().AsSlice(), Zone: ap.Addr().Zone(), Port: 25}} {
			got, ok := clientKey(a)
			if !ok || got.String() != tc.want {
				t.Errorf("clientKey(%s) = %v, %v; want %s", a, got, ok, tc.want)
			}
		}
	}
	if _, ok := clientKey(pipeAddr{}); ok {
		t.Errorf("clientKey(pipe) is keyed")
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// TestRefusalLogIsRateLimited: a flood of refusals is one log line a
// minute, counting the refusals since the last.
func TestRefusalLogIsRateLimited(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	var logged strings.Builder
	f := &faultyListener{conns: make(chan net.Conn), done: make(chan struct{})}
	l := NewListener(f, Options{MaxConns: 1, Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	defer l.Close()
	// offer hands the listener a connection and returns the client's end.
	offer := func() net.Conn {
		server, client := net.Pipe()
		f.conns <- server
		t.Cleanup(func() { client.Close() })
		return client
	}
	// refused waits until the listener has closed a refused connection.
	refused := func(c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("refused connection: %v, want EOF", err)
		}
	}
	held := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			held <- c
		}
		l.Accept() // refuses all that follow, until Close
	}()
	offer()
	defer (<-held).Close()

	refused(offer())
	refused(offer())
	if n := strings.Count(logged.String(), "connections refused"); n != 1 {
		t.Fatalf("%d log lines for two refusals within a minute, want 1:\n%s", n, logged.String())
	}
	clock.Add(61)
	refused(offer())
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "refused=1 ") || !strings.Contains(lines[1], "refused=2 ") {
		t.Fatalf("log after a minute:\n%s\nwant refused=1, then refused=2", logged.String())
	}
}

// TestRefusedReasons: each refusal is reported with the cap that made
// it, before the client is closed.
func TestRefusedReasons(t *testing.T) {
	t.Parallel()
	reasons := make(chan string, 4)
	_, addr := startEcho(t, Options{MaxConns: 3, MaxConnsPerIP: 1, Refused: func(r string) { reasons <- r }})
	next := func() string {
		t.Helper()
		select {
		case r := <-reasons:
			return r
		default:
			t.Fatal("refusal not reported")
			return ""
		}
	}
	dialFrom(t, "127.0.0.1", addr).wantServed()
	dialFrom(t, "127.0.0.1", addr).wantRefused("")
	if r := next(); r != RefusedMaxConnsPerIP {
		t.Errorf("per-IP refusal reported as %q", r)
	}
	dialFrom(t, "127.0.0.2", addr).wantServed()
	dialFrom(t, "127.0.0.3", addr).wantServed()
	dialFrom(t, "127.0.0.4", addr).wantRefused("")
	if r := next(); r != RefusedMaxConns {
		t.Errorf("total cap refusal reported as %q", r)
	}
	if len(reasons) != 0 {
		t.Errorf("%d more refusals reported than made", len(reasons))
	}
}
