package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// testACMECerts is an acmeCerts for mx.example.test with the local
// domains given, its cache in a temp dir, and its log in buf.
func testACMECerts(t *testing.T, buf *bytes.Buffer, domains ...string) *acmeCerts {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Hostname = "mx.example.test"
	cfg.DataDir = t.TempDir()
	cfg.TLS.ACME = true
	// Nothing here may reach a CA; this one refuses at once.
	cfg.TLS.ACMEDirectory = "https://127.0.0.1:1/dir"
	local := map[string]bool{}
	for _, d := range domains {
		local[d] = true
	}
	fallback, err := loadOrCreateCert("", "", cfg.DataDir, cfg.Hostname, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := newACMECerts(cfg, func(d string) bool { return local[d] },
		func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &fallback, nil },
		slog.New(slog.NewTextHandler(buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestACMEPolicy(t *testing.T) {
	t.Parallel()
	a := testACMECerts(t, new(bytes.Buffer), "example.test", "other.test")
	for host, ok := range map[string]bool{
		"mx.example.test":         true,
		"MX.Example.Test.":        true,
		"mx.example.test:80":      true, // HTTP-01's Host header
		"mta-sts.example.test":    true,
		"autoconfig.other.test":   true,
		"autodiscover.other.test": true,
		"www.other.test":          false,
		"mta-sts.unknown.test":    false,
		"www.example.test":        false,
		"example.test":            false,
		"127.0.0.1":               false,
		"mta-sts.mx.example.test": false,
		"":                        false,
	} {
		if err := a.policy(context.Background(), host); (err == nil) != ok {
			t.Errorf("policy(%q) = %v, want allowed %v", host, err, ok)
		}
	}
}

// TestACMEHostnameFallback: before the first ACME certificate, the
// hostname (asked for, or put in place of no name and of a refused one)
// gets the fallback, logged once; after, the ACME one, without asking
// the CA.
func TestACMEHostnameFallback(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	a := testACMECerts(t, &buf, "example.test")
	fb, _ := a.fallback(nil)
	ecdsaHello := func(name string) *tls.ClientHelloInfo {
		h := a.hostnameHello()
		h.ServerName = name
		return h
	}
	for _, name := range []string{"", "mx.example.test", "127.0.0.1", "www.example.test"} {
		got, err := a.GetCertificate(ecdsaHello(name))
		if err != nil || got != fb {
			t.Fatalf("SNI %q before the first certificate: %v, %v; want the fallback", name, got, err)
		}
	}
	if n := strings.Count(buf.String(), "no certificate for the hostname yet"); n != 1 {
		t.Fatalf("fallback logged %d times, want 1:\n%s", n, buf.String())
	}
	acmeCert, err := loadOrCreateCert("", "", t.TempDir(), "mx.example.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a.current.Store(&acmeCert)
	for _, name := range []string{"", "mx.example.test", "127.0.0.1", "www.example.test"} {
		got, err := a.GetCertificate(ecdsaHello(name))
		if err != nil || got != &acmeCert {
			t.Fatalf("SNI %q: %v, %v; want the ACME certificate", name, got, err)
		}
	}
	// A TLS-ALPN-01 hello is autocert's alone: with no challenge under
	// way, it gets an error, not the hostname's certificate.
	h := ecdsaHello("mx.example.test")
	h.SupportedProtos = []string{acme.ALPNProto}
	if got, err := a.GetCertificate(h); err == nil {
		t.Fatalf("TLS-ALPN-01 hello without a challenge got %v", got)
	}
}

func TestACMECacheKeys(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]bool{
		"mx.example.test": true, "mx.example.test+rsa": true,
		"mx.example.test+token": false, "acme_account+key": false, "abc+http-01": false,
	} {
		if got := isCertKey(key); got != want {
			t.Errorf("isCertKey(%q) = %v", key, got)
		}
	}
}

// TestACMECachePut: a certificate stored for the hostname is served at
// once and logged as issued, then as renewed; other entries are stored
// without a word.
func TestACMECachePut(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	a := testACMECerts(t, &buf, "example.test")
	c := a.m.Cache
	ctx := context.Background()
	entry := func() ([]byte, *tls.Certificate) {
		certPEM, keyPEM, err := selfSigned("mx.example.test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return append(keyPEM, certPEM...), &cert
	}
	if err := c.Put(ctx, "acme_account+key", []byte("key")); err != nil {
		t.Fatal(err)
	}
	first, firstCert := entry()
	if err := c.Put(ctx, "mx.example.test", first); err != nil {
		t.Fatal(err)
	}
	if got := a.current.Load(); got == nil || got.Leaf.SerialNumber.Cmp(firstCert.Leaf.SerialNumber) != 0 {
		t.Fatalf("served %v after the first Put", got)
	}
	second, secondCert := entry()
	if err := c.Put(ctx, "mx.example.test", second); err != nil {
		t.Fatal(err)
	}
	if got := a.current.Load(); got.Leaf.SerialNumber.Cmp(secondCert.Leaf.SerialNumber) != 0 {
		t.Fatalf("served %s after the renewal, want %s", got.Leaf.SerialNumber, secondCert.Leaf.SerialNumber)
	}
	log := buf.String()
	for _, want := range []string{
		`msg="acme certificate issued" names="[mx.example.test localhost]" serial=` + firstCert.Leaf.SerialNumber.String(),
		`msg="acme certificate renewed" names="[mx.example.test localhost]" serial=` + secondCert.Leaf.SerialNumber.String(),
		"old_serial=" + firstCert.Leaf.SerialNumber.String(),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "acme_account") {
		t.Errorf("the account key was logged:\n%s", log)
	}
	if got, err := c.Get(ctx, "mx.example.test"); err != nil || !bytes.Equal(got, second) {
		t.Fatalf("Get after Put: %v", err)
	}
}

// TestACMEExtraNameBackoff: a name beside the hostname whose order
// fails is not ordered again for an hour, doubling to a day; meanwhile
// a hello for it gets the hostname's certificate, and the CA is not
// asked (here it refuses at once, and each ask would log a line).
func TestACMEExtraNameBackoff(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	a := testACMECerts(t, &buf, "example.test")
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	a.extra.now = func() time.Time { return now }
	hello := &tls.ClientHelloInfo{ServerName: "mta-sts.example.test", SupportedProtos: []string{"http/1.1"}}
	if _, err := a.GetCertificate(hello); err == nil {
		t.Fatal("a CA that refuses gave a certificate")
	}
	if n := strings.Count(buf.String(), "not asking the CA"); n != 1 {
		t.Fatalf("%d failure lines after one order, want 1:\n%s", n, buf.String())
	}
	// Within the hour: the hostname's (fallback) certificate, no order.
	for range 3 {
		c, err := a.GetCertificate(hello)
		if err != nil || c == nil || c.Leaf == nil && len(c.Certificate) == 0 {
			t.Fatalf("during the backoff: %v, %v", c, err)
		}
	}
	if n := strings.Count(buf.String(), "not asking the CA"); n != 1 {
		t.Fatalf("%d failure lines during the backoff, want still 1", n)
	}
	now = now.Add(time.Hour)
	a.GetCertificate(hello)
	if !strings.Contains(buf.String(), "retry_in=2h0m0s") {
		t.Fatalf("second failure does not double the wait:\n%s", buf.String())
	}
	for range 10 {
		now = now.Add(25 * time.Hour)
		a.GetCertificate(hello)
	}
	if !strings.Contains(buf.String(), "retry_in=24h0m0s") || strings.Contains(buf.String(), "retry_in=48h") {
		t.Fatalf("the wait is not capped at a day:\n%s", buf.String())
	}
}

// TestACMERenewThreshold follows autocert's rule: acme_renew_before, or
// a third of the lifetime, at most 30 days either way.
func TestACMERenewThreshold(t *testing.T) {
	t.Parallel()
	a := testACMECerts(t, new(bytes.Buffer), "example.test")
	day := 24 * time.Hour
	leaf := func(life time.Duration) *x509.Certificate {
		nb := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		return &x509.Certificate{NotBefore: nb, NotAfter: nb.Add(life)}
	}
	for _, c := range []struct {
		renewBefore, life, want time.Duration
	}{
		{0, 90 * day, 30 * day},
		{0, 6 * day, 2 * day},
		{day, 90 * day, day},
		{60 * day, 90 * day, 30 * day},
		{50 * time.Second, time.Minute, 50 * time.Second},
	} {
		a.m.RenewBefore = c.renewBefore
		if got := a.renewThreshold(leaf(c.life)); got != c.want {
			t.Errorf("renew_before %v, lifetime %v: %v, want %v", c.renewBefore, c.life, got, c.want)
		}
	}
}
