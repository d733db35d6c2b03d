package tlspolicy

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"pillarbox/smtp/msgauth/dnstest"
	"pillarbox/smtp/relay/internal/testca"
)

// newTestCA makes the tlspolicy tests' certificate authority.
func newTestCA(t *testing.T) *testca.CA { return testca.New(t, "tlspolicy test CA") }

const policyPath = "/.well-known/mta-sts.txt"

// policyHost is an HTTPS server on 127.0.0.1 that plays every
// mta-sts.<domain> host: the dialer it gives sends every connection
// there, and what it answers is set by the test.
type policyHost struct {
	srv *httptest.Server

	mu       sync.Mutex
	cert     tls.Certificate
	status   int    // zero: 200
	ctype    string // zero: no Content-Type header at all
	body     string
	location string        // set: answer 302 to it
	block    bool          // never answer: hold the request until the test ends
	release  chan struct{} // closed when the test ends
	hits     int           // requests for policyPath
	other    int           // requests for any other path
	hosts    []string      // Host of each request
	gotReq   chan struct{} // receives at each request when set
}

func startPolicyHost(t *testing.T, cert tls.Certificate) *policyHost {
	t.Helper()
	h := &policyHost{cert: cert, ctype: "text/plain", release: make(chan struct{})}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	h.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			c := h.cert
			return &c, nil
		},
	}
	// Handshakes the client refuses are expected; do not print them.
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	t.Cleanup(func() { close(h.release) }) // before Close, which waits for handlers
	return h
}

func (h *policyHost) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.hosts = append(h.hosts, r.Host)
	if r.URL.Path == policyPath {
		h.hits++
	} else {
		h.other++
	}
	status, ctype, body, location, block, got := h.status, h.ctype, h.body, h.location, h.block, h.gotReq
	h.mu.Unlock()
	if got != nil {
		got <- struct{}{}
	}
	if block {
		// Not until the request's context ends: the server may end it
		// before the client gives up, and returning would answer an empty
		// 200. Held until the test ends, the request only ends by the
		// client's own deadline; then it is dropped without an answer.
		<-h.release
		panic(http.ErrAbortHandler)
	}
	if location != "" && r.URL.Path == policyPath {
		http.Redirect(w, r, location, http.StatusFound)
		return
	}
	if ctype == "" {
		w.Header()["Content-Type"] = nil // no sniffing either
	} else {
		w.Header().Set("Content-Type", ctype)
	}
	if status != 0 {
		w.WriteHeader(status)
	}
	io.WriteString(w, body)
}

// set changes what the host answers, under its lock.
func (h *policyHost) set(f func(h *policyHost)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

func (h *policyHost) counts() (hits, other int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits, h.other
}

func (h *policyHost) seenHosts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.hosts...)
}

// dialer connects every address to the host's listener, as DNS would for
// the mta-sts.<domain> names of the test.
func (h *policyHost) dialer() Dialer {
	return dialFunc(func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, h.srv.Listener.Addr().String())
	})
}

type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log sink that handlers may write from any goroutine.
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

const testDomain = "example.test"

// env is a policy domain example.test with its TXT record on a loopback
// DNS server and its policy on a loopback HTTPS server, and Policies
// on a fake clock in front of them.
type env struct {
	t        *testing.T
	ca       *testca.CA
	host     *policyHost
	dns      *dnstest.Server
	clock    *fakeClock
	store    *MemoryStore
	fetcher  *Fetcher
	policies *Policies
	logs     *syncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ca: newTestCA(t), dns: dnstest.Start(t), store: NewMemoryStore(), logs: &syncBuffer{},
		clock: &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.host = startPolicyHost(t, e.ca.Issue(t, "mta-sts."+testDomain))
	e.host.set(func(h *policyHost) { h.body = enforcePolicy })
	e.dns.SetTXT("_mta-sts."+testDomain, "v=STSv1; id=20260301")
	e.fetcher = NewFetcher(FetcherOptions{
		Resolver: e.dns.Resolver(),
		Dialer:   e.host.dialer(),
		RootCAs:  e.ca.Pool,
		Timeout:  10 * time.Second,
	})
	e.policies = New(Options{
		Fetcher: e.fetcher,
		Store:   e.store,
		Now:     e.clock.Now,
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return e
}

// lookup runs Policies.Lookup for example.test with a deadline.
func (e *env) lookup() Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return e.policies.Lookup(ctx, testDomain)
}

func (e *env) hits() int {
	n, _ := e.host.counts()
	return n
}

// stored is the store's record of example.test.
func (e *env) stored() Record {
	e.t.Helper()
	rec, ok, err := e.store.Get(context.Background(), testDomain)
	if err != nil || !ok {
		e.t.Fatalf("no stored record: %v", err)
	}
	return rec
}
