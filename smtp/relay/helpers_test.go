package relay

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/storetest"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fakeClock is a Clock that moves only when the test sets it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.atLocked(c.now.Add(d))
}

func (c *fakeClock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.atLocked(t)
}

func (c *fakeClock) atLocked(t time.Time) <-chan time.Time {
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: t, ch: ch})
	return ch
}

// Set moves the clock to t and fires the timers that are due.
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.ch <- t
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// fakeResolver answers MX lookups from a table; a missing domain is
// "not found".
type fakeResolver map[string][]*net.MX

func (f fakeResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if mxs, ok := f[name]; ok {
		return mxs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// loopbackDialer maps host:port to addresses on loopback, refuses to
// dial anything else, and records what it was asked for.
type loopbackDialer struct {
	t     *testing.T
	mu    sync.Mutex
	hosts map[string]string // "mx.remote.test:25" → "127.0.0.1:NNNN", or "nxdomain"
	asked []string
}

func newDialer(t *testing.T) *loopbackDialer {
	return &loopbackDialer{t: t, hosts: map[string]string{}}
}

func (d *loopbackDialer) set(hostport, target string) {
	d.mu.Lock()
	d.hosts[hostport] = target
	d.mu.Unlock()
}

func (d *loopbackDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	target, ok := d.hosts[addr]
	d.asked = append(d.asked, addr)
	d.mu.Unlock()
	host, _, _ := net.SplitHostPort(addr)
	switch {
	case !ok:
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("no route to host (test dialer)")}
	case target == "nxdomain":
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}
	ap, err := netip.ParseAddrPort(target)
	if err != nil || !ap.Addr().IsLoopback() {
		d.t.Errorf("test dialer asked to connect to %s (%s): only loopback is allowed", addr, target)
		return nil, errors.New("not loopback")
	}
	return (&net.Dialer{}).DialContext(ctx, network, target)
}

func (d *loopbackDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.asked...)
}

// refusedAddr is a loopback address where nothing listens.
func refusedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// sinkMsg is a message a sink accepted.
type sinkMsg struct {
	from  string
	rcpts []string
	data  string
	tls   bool
	helo  string
}

// rcptCall is one RCPT a sink answered.
type rcptCall struct {
	rcpt string
	at   time.Time // the fake clock's time
	code int
}

// sink is an in-process go-smtp server that answers each recipient as
// the test scripts it.
type sink struct {
	addr string
	now  func() time.Time

	mu     sync.Mutex
	script map[string][]int // RCPT reply codes per attempt; the last repeats; none: 250
	calls  []rcptCall
	count  map[string]int
	active int
	max    int
	// gate, when set, holds every MAIL until it is closed; arrivals
	// gets a value for each MAIL that waits there.
	gate     chan struct{}
	arrivals chan string

	msgs  chan sinkMsg
	rcpts chan rcptCall
}

func startSink(t *testing.T, now func() time.Time, tlsConf *tls.Config) *sink {
	t.Helper()
	s := &sink{now: now, script: map[string][]int{}, count: map[string]int{},
		msgs: make(chan sinkMsg, 100), rcpts: make(chan rcptCall, 1000)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s.mu.Lock()
		s.active++
		s.max = max(s.max, s.active)
		s.mu.Unlock()
		return &sinkSession{s: s, c: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.TLSConfig = tlsConf
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = discardLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) setScript(rcpt string, codes ...int) {
	s.mu.Lock()
	s.script[rcpt] = codes
	s.mu.Unlock()
}

func (s *sink) rcptTimes(rcpt string) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for _, c := range s.calls {
		if c.rcpt == rcpt {
			out = append(out, c.at.Sub(t0))
		}
	}
	return out
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

type sinkSession struct {
	s     *sink
	c     *gosmtp.Conn
	from  string
	rcpts []string
	done  bool
}

func (ss *sinkSession) Reset() { ss.from, ss.rcpts = "", nil }
func (ss *sinkSession) Logout() error {
	if !ss.done {
		ss.done = true
		ss.s.mu.Lock()
		ss.s.active--
		ss.s.mu.Unlock()
	}
	return nil
}

func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.from = from
	ss.s.mu.Lock()
	gate := ss.s.gate
	ss.s.mu.Unlock()
	if gate != nil {
		ss.s.arrivals <- from
		<-gate
	}
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s := ss.s
	s.mu.Lock()
	n := s.count[to]
	s.count[to]++
	code := 250
	if codes := s.script[to]; len(codes) > 0 {
		code = codes[min(n, len(codes)-1)]
	}
	call := rcptCall{rcpt: to, at: s.now(), code: code}
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	s.rcpts <- call
	switch code / 100 {
	case 2:
		ss.rcpts = append(ss.rcpts, to)
		return nil
	case 4:
		return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{4, 2, 0}, Message: "Mailbox busy, try later"}
	}
	return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.msgs <- sinkMsg{from: ss.from, rcpts: ss.rcpts, data: string(b), tls: isTLS, helo: ss.c.Hostname()}
	return nil
}

// env is a store with user alice@example.org and a Runner over it.
type env struct {
	t      *testing.T
	db     store.Store
	loc    storetest.Location // where db is, to open it again
	svc    *mailbox.Service
	alice  mailbox.Account
	clock  *fakeClock
	dialer *loopbackDialer
	sink   *sink
	idle   chan time.Time
	runner *Runner
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv makes the store, the clock at t0 and a sink that is the MX of
// remote.test (mx.remote.test:25). Adjust opts before start.
func newEnv(t *testing.T, sinkTLS *tls.Config) *env {
	t.Helper()
	loc := storetest.New(t, pg)
	db := loc.Open(t)
	clock := newFakeClock(t0)
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.AddUser(ctx, "alice@example.org", "pw"); err != nil {
		t.Fatal(err)
	}
	alice, err := svc.Authenticate(ctx, "alice@example.org", "pw")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, loc: loc, svc: svc, alice: alice, clock: clock, dialer: newDialer(t),
		idle: make(chan time.Time, 1), logs: &syncBuffer{}}
	e.sink = startSink(t, clock.Now, sinkTLS)
	e.dialer.set("mx.remote.test:25", e.sink.addr)
	return e
}

func (e *env) options() Options {
	return Options{
		Hostname: "relay.example.org",
		Schedule: Schedule{Retry: []time.Duration{time.Minute, 2 * time.Minute}, MaxAge: 10 * time.Minute},
		Resolver: fakeResolver{"remote.test": {{Host: "mx.remote.test.", Pref: 10}}},
		Dialer:   e.dialer,
		Clock:    e.clock,
		Logger:   slog.New(slog.NewTextHandler(e.logs, nil)),
		OnIdle: func(next time.Time) {
			select {
			case <-e.idle:
			default:
			}
			e.idle <- next
		},
		PollInterval:   -1,
		CommandTimeout: 10 * time.Second,
		DataTimeout:    10 * time.Second,
	}
}

func (e *env) start(opts Options) {
	e.t.Helper()
	e.runner = New(e.svc, opts)
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- e.runner.Run(ctx) }()
	e.t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		e.t.Error("Run did not return after cancel")
	}
}

const waitLimit = 10 * time.Second

// waitIdle waits until the scheduler waits with nothing in flight and
// returns its next attempt.
func (e *env) waitIdle() time.Time {
	e.t.Helper()
	for {
		select {
		case next := <-e.idle:
			if !next.IsZero() && !next.After(e.clock.Now()) {
				continue // from before the clock moved
			}
			return next
		case <-time.After(waitLimit):
			e.t.Fatalf("scheduler not idle after %v; log:\n%s", waitLimit, e.logs)
		}
	}
}

// runSchedule lets the scheduler run until the queue is empty, moving
// the clock to each next attempt, and returns the times it moved to.
func (e *env) runSchedule() []time.Duration {
	e.t.Helper()
	var moves []time.Duration
	for i := 0; i < 1000; i++ {
		next := e.waitIdle()
		if next.IsZero() {
			return moves
		}
		moves = append(moves, next.Sub(t0))
		e.clock.Set(next)
	}
	e.t.Fatal("schedule did not end")
	return nil
}

// submit queues a message from alice to the given remote recipients.
func (e *env) submit(subject string, rcpts ...string) mailbox.Submitted {
	e.t.Helper()
	var remote []mailbox.Address
	for _, r := range rcpts {
		a, err := mailbox.ParseAddress(r)
		if err != nil {
			e.t.Fatal(err)
		}
		remote = append(remote, a)
	}
	from, _ := mailbox.ParseAddress("alice@example.org")
	data := fmt.Sprintf("Return-Path: <alice@example.org>\r\nFrom: Alice <alice@example.org>\r\nTo: %s\r\n"+
		"Subject: %s\r\nMessage-ID: <%s@example.org>\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nHello.\r\n",
		strings.Join(rcpts, ", "), subject, strings.ReplaceAll(subject, " ", "-"))
	res, err := e.svc.Submit(context.Background(), &mailbox.Submission{Account: e.alice, From: from, Remote: remote, Data: []byte(data)})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// inbox returns the raw messages in a user's INBOX.
func (e *env) inbox(user string) []string {
	e.t.Helper()
	ctx := context.Background()
	acct, err := e.db.AccountByAddress(ctx, user)
	if err != nil {
		e.t.Fatal(err)
	}
	mb, err := e.db.MailboxByName(ctx, acct.ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := e.db.Messages(ctx, mb.ID, 1, ^uint32(0), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		b, err := e.db.BlobData(ctx, m.BlobID)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func (e *env) queue() []mailbox.QueueItem {
	e.t.Helper()
	items, err := e.svc.QueueList(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return items
}

func (e *env) waitMsg() sinkMsg {
	e.t.Helper()
	select {
	case m := <-e.sink.msgs:
		return m
	case <-time.After(waitLimit):
		e.t.Fatalf("sink got no message; log:\n%s", e.logs)
	}
	return sinkMsg{}
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

func durations(ds ...time.Duration) string { return fmt.Sprint(ds) }

// testTLS is a server config with a fresh self-signed certificate.
func testTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sink.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"sink.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}
