package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"math/big"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"
)

// e2ePair is a certificate for mx.example.test written for the server.
type e2ePair struct {
	certPEM, keyPEM []byte
	serial          *big.Int
	leaf            *x509.Certificate
}

func newE2EPair(t *testing.T) e2ePair {
	t.Helper()
	c, k, err := selfSigned("mx.example.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return e2ePair{certPEM: c, keyPEM: k, serial: pair.Leaf.SerialNumber, leaf: pair.Leaf}
}

// install replaces the files by rename, key first, as a deploy hook
// would.
func (p e2ePair) install(t *testing.T, certFile, keyFile string) {
	t.Helper()
	if err := writeFileAtomic(keyFile, p.keyPEM); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(certFile, p.certPEM); err != nil {
		t.Fatal(err)
	}
}

// TestSIGHUPReloadsCertificate replaces the tls.cert/tls.key files of a
// running server and sends SIGHUP: the server keeps running (before, the
// signal ended it with exit 129), new connections on every TLS listener (SMTP and IMAP
// STARTTLS, submissions, imaps) get the new certificate, a session opened before goes on, and a broken
// pair on a later SIGHUP keeps the good one.
func TestSIGHUPReloadsCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	a, b := newE2EPair(t), newE2EPair(t)
	a.install(t, certFile, keyFile)
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) {
		c.TLS.Cert, c.TLS.Key = certFile, keyFile
		c.Submission.ListenTLS = "127.0.0.1:0"
		c.IMAP.Listen = "127.0.0.1:0"
		c.IMAP.ListenTLS = "127.0.0.1:0"
	})
	srv := startServer(t, cfg, dir)
	srv.waitLog(t, `msg="tls certificate" source="files \(reloaded on change and on SIGHUP\)" serial=`+a.serial.String()+" ", time.Second)

	roots := x509.NewCertPool()
	roots.AddCert(a.leaf)
	roots.AddCert(b.leaf)
	clientTLS := &tls.Config{RootCAs: roots, ServerName: "mx.example.test"}
	starttls := func() (*gosmtp.Client, *big.Int) {
		t.Helper()
		c, err := gosmtp.DialStartTLS(srv.addrs["smtp"], clientTLS)
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		// The handshake runs at the first command after STARTTLS.
		if err := c.Noop(); err != nil {
			t.Fatalf("NOOP after STARTTLS: %v", err)
		}
		st, ok := c.TLSConnectionState()
		if !ok {
			t.Fatal("no TLS after STARTTLS")
		}
		return c, st.PeerCertificates[0].SerialNumber
	}
	implicit := func(service string) *big.Int {
		t.Helper()
		conn, err := tls.Dial("tcp", srv.addrs[service], clientTLS)
		if err != nil {
			t.Fatalf("%s: %v", service, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	imapSTARTTLS := func() *big.Int {
		t.Helper()
		// imapclient does not show the connection state: the check that
		// verifies the chain notes the serial.
		var serial *big.Int
		conf := clientTLS.Clone()
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			serial = cs.PeerCertificates[0].SerialNumber
			return nil
		}
		c, err := imapclient.DialStartTLS(srv.addrs["imap"], &imapclient.Options{TLSConfig: conf})
		if err != nil {
			t.Fatalf("imap STARTTLS: %v", err)
		}
		defer c.Close()
		if err := c.Noop().Wait(); err != nil {
			t.Fatalf("imap NOOP after STARTTLS: %v", err)
		}
		return serial
	}
	checkAll := func(want e2ePair, when string) {
		t.Helper()
		c, got := starttls()
		c.Close()
		if got.Cmp(want.serial) != 0 {
			t.Errorf("%s: smtp STARTTLS certificate serial %v, want %v", when, got, want.serial)
		}
		if got := imapSTARTTLS(); got == nil || got.Cmp(want.serial) != 0 {
			t.Errorf("%s: imap STARTTLS certificate serial %v, want %v", when, got, want.serial)
		}
		for _, service := range []string{"submissions", "imaps"} {
			if got := implicit(service); got.Cmp(want.serial) != 0 {
				t.Errorf("%s: %s certificate serial %v, want %v", when, service, got, want.serial)
			}
		}
	}

	checkAll(a, "at start")
	open, got := starttls()
	defer open.Close()
	if got.Cmp(a.serial) != 0 {
		t.Fatalf("open session: serial %v, want %v", got, a.serial)
	}

	b.install(t, certFile, keyFile)
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line := srv.waitLog(t, `msg="tls certificate reloaded" reason="signal hangup"`, 20*time.Second)
	if !strings.Contains(line, "serial="+b.serial.String()) {
		t.Errorf("reload log line does not name the new serial %v: %s", b.serial, line)
	}
	checkAll(b, "after SIGHUP")

	// The session from before the reload goes on with its certificate.
	if err := open.Noop(); err != nil {
		t.Fatalf("open session after SIGHUP: %v", err)
	}
	if err := open.SendMail("someone@sender.example", []string{"postmaster@example.test"},
		strings.NewReader("From: someone@sender.example\r\nTo: postmaster@example.test\r\nSubject: across a reload\r\n\r\nhello\r\n")); err != nil {
		t.Fatalf("mail in the session opened before SIGHUP: %v", err)
	}

	// A half-written certificate on the next SIGHUP is logged and the
	// pair in use stays.
	if err := writeFileAtomic(certFile, b.certPEM[:len(b.certPEM)/2]); err != nil {
		t.Fatal(err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	srv.waitLog(t, `level=ERROR msg="tls certificate reload failed; keeping the certificate in use"`, 20*time.Second)
	checkAll(b, "after a failed reload")

	srv.stop(t)
}

// TestJSONLog runs serve with log_format = "json" through a session and
// a stop: every line it writes is a JSON object with time, level and msg.
func TestJSONLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) { c.LogFormat = "json" })
	srv := startServer(t, cfg, dir)

	var addr string
	for _, l := range strings.Split(srv.log(), "\n") {
		var rec struct{ Msg, Service, Addr string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "listening" && rec.Service == "smtp" {
			addr = rec.Addr
		}
	}
	if addr == "" {
		t.Fatalf("no JSON line says where smtp listens; log:\n%s", srv.log())
	}
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	// A refused recipient, so that a session writes its own lines too.
	if err := c.Mail("someone@sender.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@example.test", nil); err == nil {
		t.Fatal("RCPT to an unknown address accepted")
	}
	c.Quit()
	srv.stop(t)

	lines := strings.Split(strings.TrimSpace(srv.log()), "\n")
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("log line is not JSON (%v): %s", err, l)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("log line has no %q: %s", k, l)
			}
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `"msg":"stopped"`) {
		t.Errorf("last line %s, want the stop", last)
	}
}
