package msgauth

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestSPF(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	f.dns.SetTXT("pass.example", "v=spf1 ip4:192.0.2.0/24 -all")
	f.dns.SetTXT("mx.example", "v=spf1 mx -all")
	f.dns.SetMX("mx.example", "in.mx.example")
	f.dns.SetA("in.mx.example", "192.0.2.1")
	f.dns.SetTXT("fail.example", "v=spf1 ip4:198.51.100.1 -all")
	f.dns.SetTXT("soft.example", "v=spf1 ~all")
	f.dns.SetTXT("neutral.example", "v=spf1 ?all")
	f.dns.SetTXT("other.example", "some other record")
	f.dns.ServFail("servfail.example")
	f.dns.Silence("silent.example")
	f.dns.SetTXT("bad.example", "v=spf1 frobnicate:x -all")
	f.dns.SetTXT("two.example", "v=spf1 -all", "v=spf1 +all")
	f.dns.SetTXT("loop.example", "v=spf1 include:loop.example -all")
	// A chain of 12 includes: RFC 7208 4.6.4 allows 10 lookups.
	for i := range 12 {
		f.dns.SetTXT(fmt.Sprintf("c%d.example", i), fmt.Sprintf("v=spf1 include:c%d.example -all", i+1))
	}
	f.dns.SetTXT("c12.example", "v=spf1 +all")
	f.dns.SetTXT("helo.example", "v=spf1 ip4:192.0.2.1 -all")
	f.dns.SetTXT("xn--bcher-kva.example", "v=spf1 ip4:192.0.2.1 -all")
	f.v = NewVerifier(VerifierOptions{Resolver: f.dns.Resolver(), Timeout: 300 * time.Millisecond})

	for _, tc := range []struct {
		helo, from string
		want       SPFResult
		domain     string
		reason     string
	}{
		{"h.example", "a@pass.example", SPFPass, "pass.example", ""},
		{"h.example", "a@PASS.Example", SPFPass, "pass.example", ""},
		{"h.example", "a@mx.example", SPFPass, "mx.example", ""},
		{"h.example", "a@fail.example", SPFFail, "fail.example", "matched all"},
		{"h.example", "a@soft.example", SPFSoftFail, "soft.example", ""},
		{"h.example", "a@neutral.example", SPFNeutral, "neutral.example", ""},
		{"h.example", "a@nxdomain.example", SPFNone, "nxdomain.example", ""},
		{"h.example", "a@other.example", SPFNone, "other.example", ""},
		{"h.example", "a@servfail.example", SPFTempError, "servfail.example", ""},
		{"h.example", "a@silent.example", SPFTempError, "silent.example", ""},
		{"h.example", "a@bad.example", SPFPermError, "bad.example", "unknown field"},
		{"h.example", "a@two.example", SPFPermError, "two.example", "multiple"},
		{"h.example", "a@loop.example", SPFPermError, "loop.example", "lookup limit"},
		{"h.example", "a@c0.example", SPFPermError, "c0.example", "lookup limit"},
		{"helo.example", "", SPFPass, "helo.example", ""},
		{"h.example", "a@bücher.example", SPFPass, "xn--bcher-kva.example", ""},
		{"h.example", "a@nodot", SPFNone, "nodot", "malformed"},
	} {
		got := f.v.spfCheck(context.Background(), net.ParseIP("192.0.2.1"), tc.helo, tc.from)
		if got.Result != tc.want || got.Domain != tc.domain || got.Helo != (tc.from == "") ||
			!strings.Contains(got.Reason, tc.reason) {
			t.Errorf("SPF(%q, %q) = %+v, want %s for %s (reason %q)", tc.helo, tc.from, got, tc.want, tc.domain, tc.reason)
		}
	}
}
