package dane

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"pillarbox/smtp/msgauth/dnstest"
)

// TestLookupPolicy checks the decisions of RFC 7672 2.2 for one MX host.
func TestLookupPolicy(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	ee := wire(rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.leaf.cert))
	pkix := wire(rec(t, UsagePKIXTA, SelectorSPKI, MatchSHA256, p.root.cert))

	tests := []struct {
		name     string
		setup    func(s *dnstest.Server) // records for mx.example
		mxSecure bool
		mode     Mode
		base     string // want BaseDomain; "" means mx.example
		reason   string // a part of Reason
		rcode    int    // want a LookupError with this rcode
		queries  *int   // want exactly this many queries; nil: not checked
	}{
		{name: "insecure MX", mxSecure: false, mode: Off, reason: "MX records not authenticated", queries: new(0),
			setup: func(s *dnstest.Server) {
				s.SetA("mx.example", "192.0.2.1")
				s.SetTLSA("_25._tcp.mx.example", ee)
				s.Secure("mx.example", "_25._tcp.mx.example")
			}},
		{name: "insecure address records: no TLSA lookup", mxSecure: true, mode: Off, reason: "address records", queries: new(2),
			setup: func(s *dnstest.Server) {
				s.SetA("mx.example", "192.0.2.1")
				s.ServFail("_25._tcp.mx.example")
			}},
		{name: "usable records", mxSecure: true, mode: Verify, reason: "1 usable TLSA records",
			setup: func(s *dnstest.Server) {
				s.SetA("mx.example", "192.0.2.1")
				s.SetTLSA("_25._tcp.mx.example", ee, pkix)
				s.Secure("mx.example", "_25._tcp.mx.example")
			}},
		{name: "only unusable records", mxSecure: true, mode: Encrypt, reason: "none usable (PKIX",
			setup: func(s *dnstest.Server) {
				s.SetA("mx.example", "192.0.2.1")
				s.SetTLSA("_25._tcp.mx.example", pkix)
				s.Secure("mx.example", "_25._tcp.mx.example")
			}},
		{name: "insecure TLSA records", mxSecure: true, mode: Off, reason: "TLSA records at _25._tcp.mx.example. not authenticated",
			setup: func(s *dnstest.Server) {
				s.SetA("mx.example", "192.0.2.1")
				s.SetTLSA("_25._tcp.mx.example", ee)
				s.Secure("mx.example")
			}},
		{name: "no TLSA records", mxSecure: true, mode: Off, reason: "no authenticated TLSA records",
			setup: func(s *dnstest.Server) {
				s.SetA("mx.example", "192.0.2.1")
				s.Secure("mx.example", "_25._tcp.mx.example")
			}},
		{name: "TLSA SERVFAIL on a secure host", mxSecure: true, rcode: dns.RcodeServerFailure,
			setup: func(s *dnstest.Server) {
				s.SetA("mx.example", "192.0.2.1")
				s.ServFail("_25._tcp.mx.example")
				s.Secure("mx.example")
			}},
		{name: "address SERVFAIL", mxSecure: true, rcode: dns.RcodeServerFailure,
			setup: func(s *dnstest.Server) { s.ServFail("mx.example") }},
		{name: "no addresses", mxSecure: true, mode: Off, reason: "no address records",
			setup: func(s *dnstest.Server) { s.Secure("mx.example") }},
		{name: "CNAME, records at the target", mxSecure: true, mode: Verify, base: "real.example",
			setup: func(s *dnstest.Server) {
				s.SetCNAME("mx.example", "real.example")
				s.SetA("real.example", "192.0.2.1")
				s.SetTLSA("_25._tcp.real.example", ee)
				s.SetTLSA("_25._tcp.mx.example", pkix)
				s.Secure("mx.example", "real.example", "_25._tcp.real.example", "_25._tcp.mx.example")
			}},
		{name: "CNAME, records at the MX name only", mxSecure: true, mode: Verify, reason: "at _25._tcp.mx.example.",
			setup: func(s *dnstest.Server) {
				s.SetCNAME("mx.example", "real.example")
				s.SetA("real.example", "192.0.2.1")
				s.SetTLSA("_25._tcp.mx.example", ee)
				s.Secure("mx.example", "real.example", "_25._tcp.real.example", "_25._tcp.mx.example")
			}},
		{name: "CNAME into an unsigned zone", mxSecure: true, mode: Off, reason: "address records",
			setup: func(s *dnstest.Server) {
				s.SetCNAME("mx.example", "real.example")
				s.SetA("real.example", "192.0.2.1")
				s.SetTLSA("_25._tcp.mx.example", ee)
				s.Secure("mx.example", "_25._tcp.mx.example")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, r := startDNS(t, Options{})
			tc.setup(s)
			before := s.Queries()
			pol, err := r.Lookup(context.Background(), "MX.example.", tc.mxSecure)
			if pol.Host != "mx.example" {
				t.Errorf("Host %q", pol.Host)
			}
			if tc.rcode != 0 {
				var le *LookupError
				if !errors.As(err, &le) || le.Rcode != tc.rcode {
					t.Fatalf("%+v, %v; want a LookupError with rcode %d", pol, err, tc.rcode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			base := tc.base
			if base == "" {
				base = "mx.example"
			}
			if pol.Mode != tc.mode || pol.BaseDomain != base || !strings.Contains(pol.Reason, tc.reason) {
				t.Errorf("policy %+v; want mode %v, base %s, reason with %q", pol, tc.mode, base, tc.reason)
			}
			if (pol.Mode == Verify) != (len(pol.Records) > 0) {
				t.Errorf("mode %v with records %v", pol.Mode, pol.Records)
			}
			if n := s.Queries() - before; tc.queries != nil && n != *tc.queries {
				t.Errorf("%d queries, want %d", n, *tc.queries)
			}
		})
	}
}

func TestPolicyNames(t *testing.T) {
	t.Parallel()
	if got := (Policy{Host: "mx.example", BaseDomain: "mx.example"}).Names(); !slices.Equal(got, []string{"mx.example"}) {
		t.Errorf("Names = %v", got)
	}
	if got := (Policy{Host: "mx.example", BaseDomain: "real.example"}).Names(); !slices.Equal(got, []string{"real.example", "mx.example"}) {
		t.Errorf("Names = %v", got)
	}
	for m, want := range map[Mode]string{Off: "off", Encrypt: "encrypt", Verify: "verify", 7: "Mode(7)"} {
		if m.String() != want {
			t.Errorf("Mode %d String %q, want %q", int(m), m.String(), want)
		}
	}
}

// TestEndToEnd is the whole path the relay takes: MX lookup, policy, and
// a TLS handshake on loopback with the policy's configuration, against
// TLSA records that match and records that do not.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	s, r := startDNS(t, Options{})
	s.SetMX("dest.example", "mx.example")
	s.SetA("mx.example", "127.0.0.1")
	s.Secure("dest.example", "mx.example", "_25._tcp.mx.example")
	ctx := context.Background()
	cert := serverCert(p.leaf, p.inter, p.root)

	for _, tc := range []struct {
		name    string
		records []dnstest.TLSA
		wantErr bool
	}{
		{"DANE-EE matches", []dnstest.TLSA{wire(rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.leaf.cert))}, false},
		{"DANE-TA matches", []dnstest.TLSA{wire(rec(t, UsageDANETA, SelectorCert, MatchFull, p.root.cert))}, false},
		{"DANE-EE of another key", []dnstest.TLSA{wire(rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.otherName.cert))}, true},
	} {
		s.SetTLSA("_25._tcp.mx.example", tc.records...)
		mx, err := r.LookupMX(ctx, "dest.example")
		if err != nil || !mx.Secure || len(mx.MX) != 1 {
			t.Fatalf("%s: MX %+v, %v", tc.name, mx, err)
		}
		pol, err := r.Lookup(ctx, mx.MX[0].Host, mx.Secure)
		if err != nil || pol.Mode != Verify {
			t.Fatalf("%s: policy %+v, %v", tc.name, pol, err)
		}
		_, err = handshake(t, cert, pol.TLSConfig(nil, nowFunc))
		if tc.wantErr != (err != nil) || err != nil && !errors.Is(err, ErrNoMatch) {
			t.Errorf("%s: handshake %v, want error %v", tc.name, err, tc.wantErr)
		}
	}
}
