package wellknown_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"pillarbox/mailbox/wellknown"
)

// domainSet is a Domains whose list a test changes while serving.
type domainSet struct {
	mu    sync.Mutex
	names []string
}

func newDomains(names ...string) *domainSet { return &domainSet{names: names} }

func (d *domainSet) IsLocalDomain(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.names, name)
}

func (d *domainSet) add(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.names = append(d.names, name)
}

// allPorts offers every service on its usual port.
var allPorts = wellknown.Ports{IMAP: 143, IMAPS: 993, Submission: 587, Submissions: 465}

// testServers serves h over plain HTTP and over HTTPS with a certificate
// for names, and returns clients that verify it.
type testServers struct {
	plain, tls *httptest.Server
	client     *http.Client // for both; trusts the test certificate
	pool       *x509.CertPool
}

func serveBoth(t *testing.T, h http.Handler) *testServers {
	t.Helper()
	cert, pool := selfSigned(t, "mx.example.org", "example.org", "*.example.org", "example.net", "*.example.net", "example.com", "*.example.com", "evil.test", "*.evil.test", "*.mta-sts.example.org")
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	return &testServers{plain: plain, tls: tlsSrv, pool: pool, client: &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		// The handler never redirects; a redirect would be a failure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   string
}

// do sends a request with Host host to the plain server, or to the TLS
// one with SNI set to host, as a client that resolved host would.
func (s *testServers) do(t *testing.T, secure bool, method, host, target string, body io.Reader) reply {
	t.Helper()
	srv := s.plain
	client := s.client
	if secure {
		srv = s.tls
		tr := s.client.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.ServerName = stripPort(host)
		client = &http.Client{Transport: tr, CheckRedirect: s.client.CheckRedirect, Timeout: s.client.Timeout}
		defer tr.CloseIdleConnections()
	}
	req, err := http.NewRequest(method, srv.URL+target, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func (s *testServers) get(t *testing.T, host, target string) reply {
	t.Helper()
	return s.do(t, false, http.MethodGet, host, target, nil)
}

// getTLS is get over HTTPS.
func (s *testServers) getTLS(t *testing.T, host, target string) reply {
	t.Helper()
	return s.do(t, true, http.MethodGet, host, target, nil)
}

func stripPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// selfSigned makes a certificate for names and a pool that trusts it.
func selfSigned(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// wantStatus fails the test unless r has status code.
func wantStatus(t *testing.T, what string, r reply, code int) {
	t.Helper()
	if r.status != code {
		t.Fatalf("%s: status %d, want %d; body %q", what, r.status, code, truncate(r.body))
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// newHandler is the handler of host mx.example.org for example.org and
// example.net, with every port offered.
func newHandler(t *testing.T, edit func(*wellknown.Options)) (http.Handler, *domainSet) {
	t.Helper()
	doms := newDomains("example.org", "example.net")
	opts := wellknown.Options{Hostname: "mx.example.org", Domains: doms, Ports: allPorts}
	if edit != nil {
		edit(&opts)
	}
	return wellknown.New(opts), doms
}
