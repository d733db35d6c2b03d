package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/smtp/msgauth/dnstest"
)

const acmeHost = "mx.example.test"

// acmeDNS runs the DNS server Pebble's validation authority asks: the
// hostname and the web names of example.test on loopback.
func acmeDNS(t *testing.T) *dnstest.Server {
	dns := dnstest.Start(t)
	for _, n := range []string{acmeHost, "mta-sts.example.test", "autoconfig.example.test", "mta-sts.other.test"} {
		dns.SetA(n, "127.0.0.1")
	}
	return dns
}

// acmeConfig writes the config of a server that gets its certificates
// from p, with imaps and submissions on, and the listeners edit sets.
func acmeConfig(t *testing.T, dataDir string, p *pebbleServer, ca testCAFiles, edit func(*Config)) string {
	return writeServeConfig(t, dataDir, func(c *Config) {
		c.IMAP.ListenTLS = "127.0.0.1:0"
		c.Submission.ListenTLS = "127.0.0.1:0"
		c.TLS.ACME = true
		c.TLS.ACMEEmail = "postmaster@example.test"
		c.TLS.ACMEDirectory = p.dirURL
		c.TLS.ACMECARoots = ca.caPEM
		edit(c)
	})
}

var serialRE = regexp.MustCompile(` serial=(\d+)`)

// logSerial returns the serial a log line names.
func logSerial(t *testing.T, line string) string {
	t.Helper()
	m := serialRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no serial in %q", line)
	}
	return m[1]
}

// httpsResponse fetches url from the HTTPS listener at addr, verifying
// its certificate against roots for the URL's host, and returns the
// response, body closed (its TLS state is what the ACME tests look at).
func httpsResponse(t *testing.T, addr, url string, roots *x509.CertPool) *http.Response {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp
}

// TestACMETLSALPN01 gets the hostname's certificate from Pebble with
// only the [https] listener on, so through TLS-ALPN-01 (Pebble's HTTP-01
// port has no one behind it), and checks that mail clients with and
// without SNI get it on imaps and submissions, that HTTPS gets
// certificates for mta-sts. of a domain added while serving, that SIGHUP
// leaves the server running, and that a restart takes the certificate
// from data_dir/acme without asking the CA.
func TestACMETLSALPN01(t *testing.T) {
	t.Parallel()
	ca := newTestCAFiles(t)
	dns := acmeDNS(t)
	p := startPebble(t, ca, pebbleOptions{DNS: dns.Addr(), Validity: 24 * time.Hour})
	httpsPort := p.tlsPort
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := acmeConfig(t, dataDir, p, ca, func(c *Config) {
		c.HTTPS.Listen = fmt.Sprintf("127.0.0.1:%d", httpsPort)
	})
	srv := startServer(t, cfg, dir)
	ready := srv.waitLog(t, `msg="acme certificate ready"`, time.Minute)
	t.Logf("first issuance: %s", ready)
	issuedLine := srv.waitLog(t, `msg="acme certificate issued" names=\[`+regexp.QuoteMeta(acmeHost)+`\]`, time.Second)
	serial := logSerial(t, ready)
	if logSerial(t, issuedLine) != serial {
		t.Fatalf("issued %s but ready with %s", issuedLine, ready)
	}
	if got := srv.addrs["https"]; got != fmt.Sprintf("127.0.0.1:%d", httpsPort) {
		t.Fatalf("https listening on %q", got)
	}
	if strings.Contains(p.proc.log(), "Attempting to validate w/ HTTP") {
		t.Fatalf("pebble tried HTTP-01 with no [http] listener; its log:\n%s", p.proc.log())
	}
	roots := p.root(t)

	// A mail client often sends no SNI; one may send a name the server
	// has no certificate for. Both get the hostname's.
	for _, c := range []struct{ service, sni string }{
		{"imaps", ""}, {"imaps", acmeHost}, {"submissions", ""}, {"submissions", acmeHost}, {"submissions", "elsewhere.example.org"},
	} {
		conn := handshake(t, srv.addrs[c.service], c.sni, acmeHost, roots)
		if got := conn.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != serial {
			t.Fatalf("%s (SNI %q): serial %s, want the ACME certificate's %s", c.service, c.sni, got, serial)
		}
		conn.Close()
	}
	if resp := httpsResponse(t, srv.addrs["https"], "https://"+acmeHost+"/no-such-page", roots); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("https: %s", resp.Status)
	}
	// A domain added while serving gets its mta-sts. certificate at the
	// first request for it; a name of no local domain gets none.
	mustCLI(t, "", "domain", "add", "other.test", "--config", cfg)
	if resp := httpsResponse(t, srv.addrs["https"], "https://mta-sts.other.test/.well-known/mta-sts.txt", roots); resp.TLS.PeerCertificates[0].VerifyHostname("mta-sts.other.test") != nil {
		t.Fatalf("https for mta-sts.other.test: certificate for %v", resp.TLS.PeerCertificates[0].DNSNames)
	}
	srv.waitLog(t, `msg="acme certificate issued" names=\[mta-sts.other.test\]`, time.Second)
	if conn := handshake(t, srv.addrs["https"], "mta-sts.unknown.test", acmeHost, roots); conn == nil {
		t.Fatal("unreachable")
	}

	// SIGHUP has nothing to reload and does not stop the server.
	srv.cmd.Process.Signal(syscall.SIGHUP)
	srv.waitLog(t, `nothing to reload`, 10*time.Second)
	handshake(t, srv.addrs["imaps"], "", acmeHost, roots).Close()

	// A restart serves the stored certificate and asks the CA nothing.
	srv.stop(t)
	before := p.issued()
	srv = startServer(t, cfg, dir)
	ready = srv.waitLog(t, `msg="acme certificate ready"`, 30*time.Second)
	if got := logSerial(t, ready); got != serial {
		t.Fatalf("after restart: serial %s, want the stored %s", got, serial)
	}
	if strings.Contains(srv.log(), "acme certificate issued") || p.issued() != before {
		t.Fatalf("the restart asked the CA again; log:\n%s", srv.log())
	}
	conn := handshake(t, srv.addrs["imaps"], "", acmeHost, roots)
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != serial {
		t.Fatalf("after restart imaps serves %s, want %s", got, serial)
	}
}

// TestACMEHTTP01Renewal gets the hostname's certificate through HTTP-01
// with only the [http] listener on (Pebble's TLS-ALPN-01 port has no one
// behind it), from a Pebble issuing one-minute certificates with
// acme_renew_before at 50 s, so that autocert renews ten-odd seconds
// after issuance. The renewed certificate is served to new connections
// of the running server, while a session opened before keeps working.
func TestACMEHTTP01Renewal(t *testing.T) {
	t.Parallel()
	ca := newTestCAFiles(t)
	dns := acmeDNS(t)
	p := startPebble(t, ca, pebbleOptions{DNS: dns.Addr(), Validity: time.Minute})
	httpPort := p.httpPort
	dir := t.TempDir()
	cfg := acmeConfig(t, filepath.Join(dir, "data"), p, ca, func(c *Config) {
		c.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", httpPort)
		c.TLS.ACMERenewBefore = Duration{50 * time.Second}
	})
	srv := startServer(t, cfg, dir)
	ready := srv.waitLog(t, `msg="acme certificate ready"`, time.Minute)
	t.Logf("first issuance: %s", ready)
	if !strings.Contains(p.proc.log(), "Attempting to validate w/ HTTP: http://"+acmeHost) {
		t.Fatalf("pebble did not validate over HTTP; its log:\n%s", p.proc.log())
	}
	roots := p.root(t)
	first := handshake(t, srv.addrs["imaps"], "", acmeHost, roots)
	old := first.ConnectionState().PeerCertificates[0]
	if old.SerialNumber.String() != logSerial(t, ready) {
		t.Fatalf("imaps serves %s, the log says %s", old.SerialNumber, ready)
	}
	session := imapclient.New(first, nil)
	defer session.Close()
	if err := session.Noop().Wait(); err != nil {
		t.Fatal(err)
	}

	renewed := srv.waitLog(t, `msg="acme certificate renewed" names=\[`+regexp.QuoteMeta(acmeHost)+`\] .* old_serial=`+old.SerialNumber.String()+` `, 2*time.Minute)
	t.Logf("renewal: %s", renewed)
	for _, service := range []string{"imaps", "submissions"} {
		conn := handshake(t, srv.addrs[service], acmeHost, acmeHost, roots)
		leaf := conn.ConnectionState().PeerCertificates[0]
		if leaf.SerialNumber.Cmp(old.SerialNumber) == 0 || !leaf.NotAfter.After(old.NotAfter) {
			t.Fatalf("%s after renewal: serial %s until %s, the old one was %s until %s",
				service, leaf.SerialNumber, leaf.NotAfter, old.SerialNumber, old.NotAfter)
		}
		if service == "submissions" {
			c := gosmtp.NewClient(conn)
			if err := c.Hello("client.example.test"); err != nil {
				t.Fatal(err)
			}
			c.Quit()
		}
		conn.Close()
	}
	// The session from before the renewal is still served, on its old
	// certificate.
	if err := session.Noop().Wait(); err != nil {
		t.Fatalf("the session opened before the renewal: %v", err)
	}
	if got := first.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(old.SerialNumber) != 0 {
		t.Fatalf("old session's certificate changed to %s", got)
	}
}
