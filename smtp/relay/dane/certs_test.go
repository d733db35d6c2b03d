package dane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testNow is the time the tests verify at; certificates are dated around
// it.
var testNow = time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)

func nowFunc() time.Time { return testNow }

// issued is a certificate with its key.
type issued struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// certSpec says what to issue.
type certSpec struct {
	cn        string
	names     []string // DNS subjectAltNames
	ca        bool
	notBefore time.Time // zero: a year before testNow
	notAfter  time.Time // zero: a year after testNow
}

// issue makes a certificate for spec, signed by parent, or self-signed
// when parent is nil.
func issue(t testing.TB, spec certSpec, parent *issued) *issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.cn},
		DNSNames:     spec.names,
		NotBefore:    spec.notBefore,
		NotAfter:     spec.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = testNow.AddDate(-1, 0, 0)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = testNow.AddDate(1, 0, 0)
	}
	if spec.ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{cert: cert, key: key}
}

// pki is a CA hierarchy and the server certificates the tests use.
type pki struct {
	root, inter, expiredRoot *issued
	leaf                     *issued // mx.example, issued by inter
	otherName                *issued // other.example, issued by inter
	wildcard                 *issued // *.example, issued by inter
	underExpired             *issued // mx.example, issued by expiredRoot
	expiredSelf              *issued // mx.example, self-signed, expired
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{}
	p.root = issue(t, certSpec{cn: "Test Root", ca: true}, nil)
	p.inter = issue(t, certSpec{cn: "Test Intermediate", ca: true}, p.root)
	p.expiredRoot = issue(t, certSpec{cn: "Expired Root", ca: true,
		notBefore: testNow.AddDate(-3, 0, 0), notAfter: testNow.AddDate(0, 0, -1)}, nil)
	p.leaf = issue(t, certSpec{cn: "mx.example", names: []string{"mx.example"}}, p.inter)
	p.otherName = issue(t, certSpec{cn: "other.example", names: []string{"other.example"}}, p.inter)
	p.wildcard = issue(t, certSpec{cn: "wildcard", names: []string{"*.example"}}, p.inter)
	p.underExpired = issue(t, certSpec{cn: "mx.example", names: []string{"mx.example"}}, p.expiredRoot)
	p.expiredSelf = issue(t, certSpec{cn: "self", names: []string{"elsewhere.invalid"},
		notBefore: testNow.AddDate(-3, 0, 0), notAfter: testNow.AddDate(-2, 0, 0)}, nil)
	return p
}

// serverCert is the tls.Certificate that presents leaf and then chain.
func serverCert(leaf *issued, chain ...*issued) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key, Leaf: leaf.cert}
	for _, ca := range chain {
		c.Certificate = append(c.Certificate, ca.cert.Raw)
	}
	return c
}

// handshake runs a TLS server on 127.0.0.1 with cert and a client with
// cfg, and returns the client's handshake error and the SNI the server saw.
func handshake(t *testing.T, cert tls.Certificate, cfg *tls.Config) (sni string, err error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	seen := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		srv := tls.Server(c, &tls.Config{
			Certificates: []tls.Certificate{cert},
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				seen <- hello.ServerName
				return nil, nil
			},
		})
		// The client's verdict is what the test checks; the server only
		// finishes the handshake (or sees the client's alert).
		srv.HandshakeContext(context.Background())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, cfg)
	err = c.HandshakeContext(ctx)
	c.Close()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the TLS server did not finish")
	}
	select {
	case sni = <-seen:
	default:
	}
	return sni, err
}

// rec makes a TLSA record for c, with the association data computed by
// miekg/dns rather than by the code under test.
func rec(t *testing.T, u Usage, s Selector, m MatchingType, c *x509.Certificate) Record {
	t.Helper()
	h, err := dns.CertificateToDANE(uint8(s), uint8(m), c)
	if err != nil {
		t.Fatal(err)
	}
	data, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return Record{Usage: u, Selector: s, MatchingType: m, Data: data}
}
