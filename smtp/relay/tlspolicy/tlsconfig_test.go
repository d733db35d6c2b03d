package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"
)

// handshake runs a TLS handshake over a loopback connection to a server
// presenting cert, with the client configuration cfg.
func handshake(t *testing.T, cert tls.Certificate, cfg *tls.Config) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		s.SetDeadline(time.Now().Add(10 * time.Second))
		s.Handshake()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close(); <-done }()
	cl := tls.Client(c, cfg)
	cl.SetDeadline(time.Now().Add(10 * time.Second))
	return cl.Handshake()
}

func TestTLSConfig(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	cert := ca.Issue(t, "mx1.example.test", "*.mx.example.test")
	// The relay's base configuration skips verification (opportunistic
	// TLS); under a policy it must not.
	base := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10}

	for _, tc := range []struct {
		name  string
		host  string
		roots *x509.CertPool
		ok    bool
	}{
		{"name in the certificate", "mx1.example.test", ca.Pool, true},
		{"trailing dot and case", "MX1.Example.Test.", ca.Pool, true},
		{"wildcard certificate", "a.mx.example.test", ca.Pool, true},
		{"other name", "mx2.example.test", ca.Pool, false},
		{"system roots", "mx1.example.test", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := TLSConfig(base, tc.host, tc.roots)
			err := handshake(t, cert, cfg)
			if tc.ok && err != nil {
				t.Errorf("handshake: %v", err)
			}
			var ve *tls.CertificateVerificationError
			if !tc.ok && !errors.As(err, &ve) {
				t.Errorf("handshake: %v, want a verification error", err)
			}
		})
	}
	cfg := TLSConfig(base, "mx1.example.test.", nil)
	if cfg.ServerName != "mx1.example.test" || cfg.InsecureSkipVerify || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("config %+v", cfg)
	}
	if !base.InsecureSkipVerify || base.ServerName != "" {
		t.Error("the base configuration was changed")
	}
	if cfg := TLSConfig(nil, "mx1.example.test", ca.Pool); cfg.RootCAs != ca.Pool || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("config from nil %+v", cfg)
	}
}
