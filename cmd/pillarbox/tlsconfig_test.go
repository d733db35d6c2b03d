package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustCert(t *testing.T, certFile, keyFile, dataDir, hostname string, now time.Time) tls.Certificate {
	t.Helper()
	cert, err := loadOrCreateCert(certFile, keyFile, dataDir, hostname, now)
	if err != nil {
		t.Fatalf("loadOrCreateCert: %v", err)
	}
	return cert
}

func TestSelfSignedCreatedThenReused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := mustCert(t, "", "", dir, "mail.example.org", testNow)
	leaf := first.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"mail.example.org", "localhost"}) {
		t.Errorf("DNSNames = %q", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].IsLoopback() || !leaf.IPAddresses[1].IsLoopback() {
		t.Errorf("IPAddresses = %v, want 127.0.0.1 and ::1", leaf.IPAddresses)
	}
	if !leaf.NotBefore.Equal(testNow.Add(-time.Hour)) || !leaf.NotAfter.Equal(testNow.Add(-time.Hour).AddDate(10, 0, 0)) {
		t.Errorf("validity %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v is not a positive 128-bit number", leaf.SerialNumber)
	}
	fi, err := os.Stat(filepath.Join(dir, "tls-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %v, want 0600", mode)
	}

	second := mustCert(t, "", "", dir, "mail.example.org", testNow.Add(24*time.Hour))
	if !bytes.Equal(first.Certificate[0], second.Certificate[0]) {
		t.Error("second call generated a new certificate instead of reusing the stored one")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("data dir holds %d files, want tls-cert.pem and tls-key.pem only", len(entries))
	}
}

func TestSelfSignedRegenerated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		hostname string
		now      time.Time
		damage   func(dir string) error
	}{
		{name: "hostname changed", hostname: "other.example.org", now: testNow},
		{name: "expired", hostname: "mail.example.org", now: testNow.AddDate(11, 0, 0)},
		{name: "unparsable cert", hostname: "mail.example.org", now: testNow, damage: func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "tls-cert.pem"), []byte("garbage"), 0o600)
		}},
		{name: "key missing", hostname: "mail.example.org", now: testNow, damage: func(dir string) error {
			return os.Remove(filepath.Join(dir, "tls-key.pem"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			first := mustCert(t, "", "", dir, "mail.example.org", testNow)
			if tt.damage != nil {
				if err := tt.damage(dir); err != nil {
					t.Fatal(err)
				}
			}
			second := mustCert(t, "", "", dir, tt.hostname, tt.now)
			if bytes.Equal(first.Certificate[0], second.Certificate[0]) {
				t.Fatal("stored certificate reused, want a new one")
			}
			if err := second.Leaf.VerifyHostname(tt.hostname); err != nil {
				t.Error(err)
			}
			// The new pair is what the next start finds.
			third := mustCert(t, "", "", dir, tt.hostname, tt.now)
			if !bytes.Equal(second.Certificate[0], third.Certificate[0]) {
				t.Error("regenerated certificate was not stored")
			}
		})
	}
}

func TestExplicitCertFiles(t *testing.T) {
	t.Parallel()
	// Generate a pair to stand in for the operator's files.
	src := t.TempDir()
	want := mustCert(t, "", "", src, "mail.example.org", testNow)
	certFile, keyFile := filepath.Join(src, "tls-cert.pem"), filepath.Join(src, "tls-key.pem")

	dataDir := t.TempDir()
	got := mustCert(t, certFile, keyFile, dataDir, "other.example.org", testNow)
	if !bytes.Equal(got.Certificate[0], want.Certificate[0]) {
		t.Error("explicit files not used")
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("data dir holds %d files, want none", len(entries))
	}

	for _, tc := range []struct{ cert, key, want string }{
		{filepath.Join(src, "missing.pem"), keyFile, "missing.pem"},
		{certFile, filepath.Join(src, "missing-key.pem"), "missing-key.pem"},
		{certFile, "", "together"},
		{certFile, certFile, "tls certificate: "},
	} {
		_, err := loadOrCreateCert(tc.cert, tc.key, dataDir, "mail.example.org", testNow)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("loadOrCreateCert(%q, %q) error = %v, want one containing %q", tc.cert, tc.key, err, tc.want)
		}
	}
}

func TestTLSHandshake(t *testing.T) {
	t.Parallel()
	cert := mustCert(t, "", "", t.TempDir(), "mail.example.org", time.Now())
	cfg := serverTLSConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
	if cfg.MinVersion != tls.VersionTLS12 || !cfg.SessionTicketsDisabled {
		t.Errorf("MinVersion %x, SessionTicketsDisabled %v", cfg.MinVersion, cfg.SessionTicketsDisabled)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			err = c.(*tls.Conn).Handshake()
			c.Close()
			serverErr <- err
		}
	}()

	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if state := conn.ConnectionState(); state.Version < tls.VersionTLS12 {
		t.Errorf("negotiated version %x", state.Version)
	}
	conn.Close()
	if err := waitErr(t, serverErr); err != nil {
		t.Errorf("server handshake: %v", err)
	}

	// TLS 1.1 and older are refused.
	old := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", ln.Addr().String(), old); err == nil {
		conn.Close()
		t.Error("TLS 1.1 client handshake succeeded")
	}
	if err := waitErr(t, serverErr); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("server handshake with a TLS 1.1 client: %v, want a protocol version error", err)
	}
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the server")
		return nil
	}
}
