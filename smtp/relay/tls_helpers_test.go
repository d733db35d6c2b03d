package relay

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/smtp/msgauth/dnstest"
	"pillarbox/smtp/relay/internal/testca"
	"pillarbox/smtp/relay/tlspolicy"
)

// newTestCA makes the relay tests' certificate authority.
func newTestCA(t *testing.T) *testca.CA { return testca.New(t, "relay test CA") }

// brokenTLS is a server configuration whose every handshake fails, as
// with a receiver whose TLS stack is broken: STARTTLS is offered and
// answered 220, then the handshake dies.
func brokenTLS() *tls.Config {
	return &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("broken TLS stack")
	}}
}

// spkiSHA256 is the data of a "3 1 1" TLSA record for cfg's certificate.
func spkiSHA256(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	c, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return sum[:]
}

// authSink is a smarthost: a sink that offers AUTH PLAIN only over TLS
// (go-smtp's default) and takes mail only after a login as user/pass.
type authSink struct {
	*sink
	user, pass string
	mechs      []string // offered; zero: PLAIN
	mu         sync.Mutex
	logins     []string // the user names tried
}

// startAuthSink starts an authSink with STARTTLS, or with TLS from the
// first byte when implicit.
func startAuthSink(t *testing.T, now func() time.Time, tlsConf *tls.Config, implicit bool, user, pass string) *authSink {
	t.Helper()
	a := &authSink{sink: &sink{now: now, script: map[string][]int{}, count: map[string]int{},
		msgs: make(chan sinkMsg, 100), rcpts: make(chan rcptCall, 1000)}, user: user, pass: pass}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &authSession{sinkSession: &sinkSession{s: a.sink, c: c}, a: a}, nil
	}))
	srv.Domain = "smarthost.test"
	srv.TLSConfig = tlsConf
	srv.ErrorLog = discardLogger{}
	var ln net.Listener
	var err error
	if implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsConf)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	a.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return a
}

func (a *authSink) offer(mechs ...string) {
	a.mu.Lock()
	a.mechs = mechs
	a.mu.Unlock()
}

func (a *authSink) tried() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.logins...)
}

type authSession struct {
	*sinkSession
	a      *authSink
	authed bool
}

var _ gosmtp.AuthSession = (*authSession)(nil)

func (s *authSession) AuthMechanisms() []string {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	if s.a.mechs != nil {
		return s.a.mechs
	}
	return []string{sasl.Plain}
}

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	check := func(_, user, pass string) error {
		s.a.mu.Lock()
		s.a.logins = append(s.a.logins, mech+" "+user)
		s.a.mu.Unlock()
		if user != s.a.user || pass != s.a.pass {
			return gosmtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(check), nil
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks:
// the user name (or the initial response), then the password.
type loginServer struct {
	user  *string
	check func(identity, user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case l.user == nil && resp == nil:
		return []byte("Username:"), false, nil
	case l.user == nil:
		u := string(resp)
		l.user = &u
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check("", *l.user, string(resp))
}

func (s *authSession) Mail(from string, opts *gosmtp.MailOptions) error {
	if !s.authed {
		return gosmtp.ErrAuthRequired
	}
	return s.sinkSession.Mail(from, opts)
}

// policyServer is an HTTPS server on loopback that plays every
// mta-sts.<domain> host, with a certificate from ca.
type policyServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	body string
	hits int
}

func startPolicyServer(t *testing.T, ca *testca.CA, body string) *policyServer {
	t.Helper()
	p := &policyServer{body: body}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits++
		body := p.body
		p.mu.Unlock()
		if r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, body)
	}))
	p.srv.TLS = ca.ServerTLS(t, "mta-sts.remote.test")
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

// policies returns MTA-STS Policies that find remote.test's TXT record
// at dns and download its policy from p, trusting ca, on the clock of e.
func (p *policyServer) policies(e *env, dns *dnstest.Server, ca *testca.CA) *tlspolicy.Policies {
	addr := p.srv.Listener.Addr().String()
	f := tlspolicy.NewFetcher(tlspolicy.FetcherOptions{
		Resolver: dns.Resolver(),
		Dialer: dialFunc(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}),
		RootCAs: ca.Pool,
	})
	return tlspolicy.New(tlspolicy.Options{Fetcher: f, Now: e.clock.Now, Logger: e.options().Logger})
}

type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// attempts returns the recorded attempts of the only queue item.
func (e *env) attempts() []struct{ Remote, Reply, TLS string } {
	e.t.Helper()
	q := e.queue()
	if len(q) != 1 {
		e.t.Fatalf("queue has %d items, want 1", len(q))
	}
	d, err := e.svc.QueueShow(context.Background(), q[0].ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []struct{ Remote, Reply, TLS string }
	for _, a := range d.Attempts {
		out = append(out, struct{ Remote, Reply, TLS string }{a.Remote, a.Reply, a.TLS})
	}
	return out
}
