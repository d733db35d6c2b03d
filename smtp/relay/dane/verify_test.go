package dane

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
)

// TestVerifyTLS runs real TLS handshakes on loopback with the
// configuration Policy.TLSConfig builds for Verify, and checks which
// certificate chains the TLSA records accept, and why they refuse.
func TestVerifyTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	mx := []string{"mx.example"}
	tests := []struct {
		name    string
		cert    tls.Certificate
		records []Record
		names   []string // reference identifiers; default mx
		want    string   // "" for success, else a part of the error
	}{
		{name: "DANE-EE SPKI SHA-256, self-signed and expired",
			cert:    serverCert(p.expiredSelf),
			records: []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.expiredSelf.cert)}},
		{name: "DANE-EE SPKI SHA-256 of another key",
			cert:    serverCert(p.expiredSelf),
			records: []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.leaf.cert)},
			want:    "does not match the server's certificate"},
		{name: "DANE-EE full certificate",
			cert:    serverCert(p.leaf, p.inter),
			records: []Record{rec(t, UsageDANEEE, SelectorCert, MatchFull, p.leaf.cert)}},
		{name: "DANE-EE full SPKI",
			cert:    serverCert(p.leaf, p.inter),
			records: []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchFull, p.leaf.cert)}},
		{name: "DANE-EE certificate SHA-512",
			cert:    serverCert(p.leaf, p.inter),
			records: []Record{rec(t, UsageDANEEE, SelectorCert, MatchSHA512, p.leaf.cert)}},
		{name: "DANE-EE ignores the name",
			cert:    serverCert(p.otherName, p.inter),
			records: []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.otherName.cert)}},
		{name: "DANE-TA on the root, sent in the chain",
			cert:    serverCert(p.leaf, p.inter, p.root),
			records: []Record{rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, p.root.cert)}},
		{name: "DANE-TA full root certificate",
			cert:    serverCert(p.leaf, p.inter, p.root),
			records: []Record{rec(t, UsageDANETA, SelectorCert, MatchFull, p.root.cert)}},
		{name: "DANE-TA on the intermediate",
			cert:    serverCert(p.leaf, p.inter),
			records: []Record{rec(t, UsageDANETA, SelectorCert, MatchSHA512, p.inter.cert)}},
		{name: "DANE-TA, wrong name",
			cert:    serverCert(p.otherName, p.inter, p.root),
			records: []Record{rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, p.root.cert)},
			want:    "the certificate is for other.example, not for mx.example"},
		{name: "DANE-TA, name of the TLSA base domain",
			cert:    serverCert(p.otherName, p.inter, p.root),
			records: []Record{rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, p.root.cert)},
			names:   []string{"other.example", "mx.example"}},
		{name: "DANE-TA, wildcard certificate",
			cert:    serverCert(p.wildcard, p.inter),
			records: []Record{rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, p.inter.cert)}},
		{name: "DANE-TA, anchor not in the chain",
			cert:    serverCert(p.leaf, p.inter),
			records: []Record{rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, p.root.cert)},
			want:    "no certificate in the server's chain matches"},
		{name: "DANE-TA, expired anchor",
			cert:    serverCert(p.underExpired, p.expiredRoot),
			records: []Record{rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, p.expiredRoot.cert)},
			want:    "expired"},
		{name: "DANE-TA, a certificate that is not in the leaf's path",
			cert:    serverCert(p.leaf, p.inter, p.expiredRoot),
			records: []Record{rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, p.expiredRoot.cert)},
			want:    "unknown authority"},
		{name: "DANE-TA on the leaf itself (not a CA)",
			cert:    serverCert(p.leaf, p.inter),
			records: []Record{rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, p.leaf.cert)}},
		{name: "one of several records matches",
			cert: serverCert(p.leaf, p.inter),
			records: []Record{
				rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.otherName.cert),
				rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, p.root.cert),
				rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.leaf.cert),
			}},
		{name: "PKIX-EE matching the leaf is skipped",
			cert:    serverCert(p.leaf, p.inter),
			records: []Record{rec(t, UsagePKIXEE, SelectorSPKI, MatchSHA256, p.leaf.cert)},
			want:    "no usable TLSA record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			names := tc.names
			if names == nil {
				names = mx
			}
			pol := Policy{Mode: Verify, Host: names[len(names)-1], BaseDomain: names[0], Records: tc.records}
			sni, err := handshake(t, tc.cert, pol.TLSConfig(nil, nowFunc))
			if sni != names[0] {
				t.Errorf("SNI %q, want the TLSA base domain %q", sni, names[0])
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("handshake: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("handshake succeeded, want an error with %q", tc.want)
			case tc.want != "" && (!errors.Is(err, ErrNoMatch) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("handshake: %v, want ErrNoMatch with %q", err, tc.want)
			}
		})
	}
}

// TestVerifyChainMessage checks the parts of a refusal an operator needs:
// every record with its reason and the leaf's 3 1 1 digest.
func TestVerifyChainMessage(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	chain := []*x509.Certificate{p.otherName.cert, p.inter.cert}
	ee := rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.leaf.cert)
	ta := rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, p.inter.cert)
	err := VerifyChain(chain, []Record{ee, ta}, []string{"mx.example"}, testNow)
	if !errors.Is(err, ErrNoMatch) {
		t.Fatalf("err = %v, want ErrNoMatch", err)
	}
	digest := rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.otherName.cert).String()
	for _, want := range []string{ee.String() + ": does not match", ta.String() + ": the certificate is for other.example", digest} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := VerifyChain(nil, []Record{ee}, []string{"mx.example"}, testNow); !errors.Is(err, ErrNoMatch) ||
		!strings.Contains(err.Error(), "no certificate") {
		t.Errorf("empty chain: %v", err)
	}
	// The validity of a DANE-TA chain is judged at the injected time.
	leafOnly := []*x509.Certificate{p.leaf.cert, p.inter.cert}
	if err := VerifyChain(leafOnly, []Record{ta}, []string{"mx.example"}, testNow.AddDate(2, 0, 0)); !errors.Is(err, ErrNoMatch) ||
		!strings.Contains(err.Error(), "expired") {
		t.Errorf("two years later: %v, want expired", err)
	}
}

// TestTLSConfigModes checks what TLSConfig makes of each mode.
func TestTLSConfigModes(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	base := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: "ignored.example"}

	// Encrypt: any certificate is accepted, SNI is the base domain.
	enc := Policy{Mode: Encrypt, Host: "mx.example", BaseDomain: "mx.example"}
	cfg := enc.TLSConfig(base, nil)
	if cfg.MinVersion != tls.VersionTLS12 || cfg.VerifyConnection != nil || !cfg.InsecureSkipVerify {
		t.Errorf("Encrypt config: %+v", cfg)
	}
	if sni, err := handshake(t, serverCert(p.expiredSelf), cfg); err != nil || sni != "mx.example" {
		t.Errorf("Encrypt handshake: sni %q, %v", sni, err)
	}
	// Off: base unchanged (here: verification against the system roots,
	// which do not know the test root).
	off := Policy{Mode: Off, Host: "mx.example", BaseDomain: "mx.example"}
	cfg = off.TLSConfig(base, nil)
	if cfg == base || cfg.ServerName != "ignored.example" || cfg.InsecureSkipVerify {
		t.Errorf("Off config changed: %+v", cfg)
	}
	if base.InsecureSkipVerify || base.VerifyConnection != nil {
		t.Error("TLSConfig changed its base")
	}
}
