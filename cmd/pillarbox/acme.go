package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// acmeRetryFirst is how long the start's certificate request waits after
// a failure before it tries again, doubling up to acmeRetryMax. Above a
// minute, because autocert forgets a failed attempt only after one; and
// slow, because a CA counts failed validations (Let's Encrypt allows 5
// an hour per name).
const (
	acmeRetryFirst = 2 * time.Minute
	acmeRetryMax   = 4 * time.Hour
	// acmeHTTPTimeout bounds each request to the CA.
	acmeHTTPTimeout = time.Minute
)

// acmeCerts gets the server's certificates from an ACME CA (RFC 8555)
// through autocert, which keeps them in data_dir/acme and renews each
// on its own timer; a renewed certificate is served to the next
// handshake.
type acmeCerts struct {
	m        *autocert.Manager
	hostname string
	// isLocal reports whether a domain is local now: domains are added
	// and removed while serve runs.
	isLocal func(domain string) bool
	// fallback serves the hostname until its first ACME certificate is
	// there (the self-signed one in data_dir).
	fallback func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	log      *slog.Logger
	// current is the hostname's ECDSA certificate, set at start and at
	// each renewal as soon as it is stored, so that the next handshake
	// has it. Nil until the first is there.
	current atomic.Pointer[tls.Certificate]
	warned  atomic.Bool // the fallback was logged
	// extra spaces out the orders for the names beside the hostname.
	extra *nameBackoff
}

// acmeDir is where the ACME account key and certificates are kept.
func acmeDir(cfg *Config) string { return filepath.Join(cfg.DataDir, "acme") }

// acmeHTTPClient returns the client for the CA's API: with
// tls.acme_ca_roots, trusting those roots only.
func acmeHTTPClient(cfg *Config) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.TLS.ACMECARoots != "" {
		pool, err := loadCARoots(cfg.TLS.ACMECARoots)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: acmeHTTPTimeout}, nil
}

// loadCARoots reads a PEM file of CA certificates; one without any is
// an error, since it would trust nothing.
func loadCARoots(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls.acme_ca_roots: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("tls.acme_ca_roots: %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// newACMECerts builds the manager from [tls]'s acme keys. fallback is
// served for the hostname until its ACME certificate is there.
func newACMECerts(cfg *Config, isLocal func(string) bool, fallback func(*tls.ClientHelloInfo) (*tls.Certificate, error), log *slog.Logger) (*acmeCerts, error) {
	hc, err := acmeHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	// It holds the account key: no one else's to read.
	if err := os.MkdirAll(acmeDir(cfg), 0o700); err != nil {
		return nil, fmt.Errorf("tls.acme: %w", err)
	}
	a := &acmeCerts{hostname: cfg.Hostname, isLocal: isLocal, fallback: fallback, log: log, extra: newNameBackoff(time.Now)}
	a.m = &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Email:       cfg.TLS.ACMEEmail,
		Cache:       acmeCache{dir: autocert.DirCache(acmeDir(cfg)), certs: a},
		RenewBefore: cfg.TLS.ACMERenewBefore.Duration,
		HostPolicy:  a.policy,
		Client:      &acme.Client{DirectoryURL: cfg.TLS.ACMEDirectory, HTTPClient: hc, UserAgent: "pillarbox"},
	}
	log.Info("tls certificates from ACME", "directory", cfg.TLS.ACMEDirectory, "cache", acmeDir(cfg),
		"renew_before", cfg.TLS.ACMERenewBefore.String())
	return a, nil
}

// policy allows exactly the names Pillarbox needs certificates for: the
// hostname (SMTP, IMAP, HTTPS), and mta-sts.<domain> (RFC 8461 3.3),
// autoconfig.<domain> (Thunderbird) and autodiscover.<domain> (Outlook)
// for each local domain. Anything else
// would let a client make the server ask the CA for names of its
// choosing, and spend the CA's rate limits.
func (a *acmeCerts) policy(_ context.Context, host string) error {
	// The HTTP-01 handler passes the request's Host, which may carry a
	// port.
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == a.hostname {
		return nil
	}
	for _, prefix := range []string{"mta-sts.", "autoconfig.", "autodiscover."} {
		if d, ok := strings.CutPrefix(host, prefix); ok && a.isLocal(d) {
			return nil
		}
	}
	return fmt.Errorf("acme: %q is neither the hostname nor mta-sts., autoconfig. or autodiscover. of a local domain", host)
}

// GetCertificate is the tls.Config.GetCertificate of every listener.
// SMTP and IMAP clients often send no server name (RFC 6066 3 makes it
// optional), and some connect by address: both get the hostname's
// certificate, which is the name a mail client is configured with. So
// does every name the policy refuses. TLS-ALPN-01 validation hellos are
// autocert's, untouched.
func (a *acmeCerts) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto {
		return a.m.GetCertificate(hello)
	}
	h := *hello
	name := strings.TrimSuffix(strings.ToLower(h.ServerName), ".")
	if name == "" || a.policy(hello.Context(), name) != nil || name != a.hostname && !a.extra.allowed(name) {
		name = a.hostname
	}
	h.ServerName = name
	if name != a.hostname {
		c, err := a.m.GetCertificate(&h)
		if err != nil {
			wait := a.extra.failed(name)
			a.log.Error("acme: no certificate for a name beside the hostname; not asking the CA for it again for a while",
				"name", name, "retry_in", wait, "err", err)
			return nil, err
		}
		a.extra.succeeded(name)
		return c, nil
	}
	cur := a.current.Load()
	if cur == nil {
		// Until the first certificate comes, the self-signed one: a
		// sending MTA's opportunistic TLS (RFC 7435) accepts it, where a
		// failed handshake would make it defer or send in clear, and a
		// handshake must not wait minutes for the CA.
		if !a.warned.Swap(true) {
			a.log.Warn("acme: no certificate for the hostname yet; serving the self-signed one meanwhile", "hostname", a.hostname)
		}
		return a.fallback(hello)
	}
	if h.SupportsCertificate(cur) != nil {
		// A client without ECDSA: autocert gets it an RSA certificate.
		return a.m.GetCertificate(&h)
	}
	return cur, nil
}

// HTTPHandler answers HTTP-01 challenges and passes everything else to
// next. Called before the first certificate request, it also makes
// autocert offer HTTP-01 at all.
func (a *acmeCerts) HTTPHandler(next http.Handler) http.Handler { return a.m.HTTPHandler(next) }

// hostnameHello is a hello for the hostname from a client that takes
// ECDSA, the certificate autocert makes for current clients.
func (a *acmeCerts) hostnameHello() *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		ServerName:        a.hostname,
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:   []tls.CurveID{tls.CurveP256},
		CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
}

// worker gets the hostname's certificate at start, from the cache or the
// CA, so that the first mail client does not wait for it; then it
// watches that renewals happen. autocert renews on its own timers and
// reports no failure, so a certificate close to expiry is what says
// renewal is failing.
func (a *acmeCerts) worker(ctx context.Context) error {
	retry := acmeRetryFirst
	for {
		start := time.Now()
		cert, err := a.m.GetCertificate(a.hostnameHello())
		if err == nil {
			a.current.Store(cert)
			leaf := cert.Leaf
			a.log.Info("acme certificate ready", "names", leaf.DNSNames, "serial", leaf.SerialNumber.String(),
				"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "issuer", leaf.Issuer.String(),
				"took", time.Since(start).Round(time.Millisecond).String())
			break
		}
		a.log.Error("acme: no certificate for the hostname; serving the self-signed one meanwhile",
			"hostname", a.hostname, "err", err, "retry_in", retry.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
		retry = min(retry*2, acmeRetryMax)
	}
	return a.watch(ctx)
}

// acmeWatchInterval is how often the hostname's certificate is checked
// for a renewal overdue.
const acmeWatchInterval = time.Hour

// renewThreshold is how long before a certificate's end autocert renews
// it: acme_renew_before, or a third of the lifetime, at most 30 days
// either way (autocert's domainRenewal.next).
func (a *acmeCerts) renewThreshold(leaf *x509.Certificate) time.Duration {
	if a.m.RenewBefore > 0 {
		return min(a.m.RenewBefore, 30*24*time.Hour)
	}
	return min(leaf.NotAfter.Sub(leaf.NotBefore)/3, 30*24*time.Hour)
}

// watch logs an error, once an interval, while the hostname's
// certificate has less than half its renewal threshold left: autocert
// renews at the threshold, so by then renewing has failed for a while.
func (a *acmeCerts) watch(ctx context.Context) error {
	t := time.NewTicker(acmeWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		leaf := a.current.Load().Leaf
		if left := time.Until(leaf.NotAfter); left < a.renewThreshold(leaf)/2 {
			a.log.Error("acme: the hostname's certificate is not renewed and expires soon; check the CA's reachability and the log",
				"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
}

// acmeCache is autocert's directory cache that logs each certificate it
// is given: autocert has no other report of an issuance or a renewal.
type acmeCache struct {
	dir   autocert.DirCache
	certs *acmeCerts
}

func (c acmeCache) Get(ctx context.Context, key string) ([]byte, error) { return c.dir.Get(ctx, key) }

func (c acmeCache) Delete(ctx context.Context, key string) error { return c.dir.Delete(ctx, key) }

func (c acmeCache) Put(ctx context.Context, key string, data []byte) error {
	if !isCertKey(key) {
		return c.dir.Put(ctx, key, data)
	}
	var old *x509.Certificate
	if prev, err := c.dir.Get(ctx, key); err == nil {
		old, _ = cachedLeaf(prev)
	}
	if err := c.dir.Put(ctx, key, data); err != nil {
		c.certs.log.Error("acme: storing a certificate", "key", key, "err", err)
		return err
	}
	// The key's block and the chain's are in one entry, which
	// X509KeyPair reads for either by skipping the other's.
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		c.certs.log.Error("acme: the certificate stored is unreadable", "key", key, "err", err)
		return nil
	}
	if key == c.certs.hostname {
		c.certs.current.Store(&cert)
	}
	leaf := cert.Leaf
	attrs := []any{"names", leaf.DNSNames, "serial", leaf.SerialNumber.String(),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "issuer", leaf.Issuer.String()}
	if old != nil {
		c.certs.log.Info("acme certificate renewed", append(attrs, "old_serial", old.SerialNumber.String(),
			"old_not_after", old.NotAfter.UTC().Format(time.RFC3339))...)
	} else {
		c.certs.log.Info("acme certificate issued", attrs...)
	}
	if life, th := leaf.NotAfter.Sub(leaf.NotBefore), c.certs.renewThreshold(leaf); th >= life {
		// autocert would renew it again at once, and again.
		c.certs.log.Warn("acme: tls.acme_renew_before is not shorter than the certificate's lifetime; lower it",
			"renew_before", th.String(), "lifetime", life.String())
	}
	return nil
}

// isCertKey reports whether a cache key names a certificate autocert
// serves: "<name>" (ECDSA) or "<name>+rsa", not the account key
// ("acme_account+key") nor challenge material ("+token", "+http-01").
func isCertKey(key string) bool {
	i := strings.IndexByte(key, '+')
	return i < 0 || key[i:] == "+rsa"
}

// cachedLeaf returns the first certificate of a cache entry: autocert
// stores the private key's PEM block, then the chain's, leaf first.
func cachedLeaf(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no certificate")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// Reload is what SIGHUP does with ACME: nothing, since autocert renews
// by itself; the signal must not stop the server either.
func (a *acmeCerts) Reload(reason string) error {
	a.log.Info("tls certificate: certificates come from ACME and are renewed automatically; nothing to reload", "reason", reason)
	return nil
}
