package dane

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestUsable(t *testing.T) {
	t.Parallel()
	d32, d64 := make([]byte, 32), make([]byte, 64)
	tests := []struct {
		r    Record
		want string // "" for usable, else a part of the reason
	}{
		{Record{UsageDANEEE, SelectorSPKI, MatchSHA256, d32}, ""},
		{Record{UsageDANETA, SelectorCert, MatchSHA512, d64}, ""},
		{Record{UsageDANETA, SelectorCert, MatchFull, []byte{0x30}}, ""},
		{Record{UsagePKIXTA, SelectorSPKI, MatchSHA256, d32}, "PKIX"},
		{Record{UsagePKIXEE, SelectorSPKI, MatchSHA256, d32}, "PKIX"},
		{Record{4, SelectorSPKI, MatchSHA256, d32}, "unknown usage 4"},
		{Record{UsageDANEEE, 2, MatchSHA256, d32}, "unknown selector 2"},
		{Record{UsageDANEEE, SelectorSPKI, 3, d32}, "unknown matching type 3"},
		{Record{UsageDANEEE, SelectorSPKI, MatchSHA256, d64}, "64 bytes of data for SHA-256"},
		{Record{UsageDANEEE, SelectorSPKI, MatchSHA512, d32}, "32 bytes of data for SHA-512"},
		{Record{UsageDANEEE, SelectorSPKI, MatchFull, nil}, "no association data"},
	}
	for _, tc := range tests {
		got := tc.r.unusable()
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) || tc.r.Usable() != (got == "") {
			t.Errorf("%v: unusable %q, Usable %v; want %q", tc.r, got, tc.r.Usable(), tc.want)
		}
	}
	usable, unusable := splitUsable([]Record{tests[0].r, tests[3].r, tests[1].r})
	if len(usable) != 2 || len(unusable) != 1 || unusable[0].Usage != UsagePKIXTA {
		t.Errorf("splitUsable: %v, %v", usable, unusable)
	}
}

func TestFromRR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		hex  string
		data []byte
	}{
		{"deadBEEF", []byte{0xde, 0xad, 0xbe, 0xef}},
		{"", nil},
		{"abc", nil},  // odd length
		{"zz00", nil}, // not hex
	}
	for _, tc := range tests {
		r := fromRR(&dns.TLSA{Usage: 3, Selector: 1, MatchingType: 0, Certificate: tc.hex})
		if r.Usage != UsageDANEEE || r.Selector != SelectorSPKI || r.MatchingType != MatchFull || !bytes.Equal(r.Data, tc.data) {
			t.Errorf("%q: %+v", tc.hex, r)
		}
		if r.Usable() != (tc.data != nil) {
			t.Errorf("%q: Usable %v", tc.hex, r.Usable())
		}
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	for _, s := range []Selector{SelectorCert, SelectorSPKI} {
		for _, m := range []MatchingType{MatchFull, MatchSHA256, MatchSHA512} {
			r := rec(t, UsageDANEEE, s, m, p.leaf.cert)
			if !r.Match(p.leaf.cert) {
				t.Errorf("%v does not match its certificate", r)
			}
			if r.Match(p.otherName.cert) {
				t.Errorf("%v matches another certificate", r)
			}
			r.Data[len(r.Data)-1] ^= 1
			if r.Match(p.leaf.cert) {
				t.Errorf("%v matches with a changed byte", r)
			}
		}
	}
	// The same key in two certificates: SPKI matches both, Cert one.
	twin := *p.leaf.cert
	twin.Raw = append([]byte(nil), twin.Raw...)
	twin.Raw[len(twin.Raw)-1] ^= 1
	if r := rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.leaf.cert); !r.Match(&twin) {
		t.Error("SPKI record does not match another certificate with the same key")
	}
	if r := rec(t, UsageDANEEE, SelectorCert, MatchSHA256, p.leaf.cert); r.Match(&twin) {
		t.Error("Cert record matches another certificate")
	}
	bad := rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.leaf.cert)
	bad.Selector = 7
	if bad.Match(p.leaf.cert) {
		t.Error("unknown selector matches")
	}
	bad = rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.leaf.cert)
	bad.MatchingType = 9
	if bad.Match(p.leaf.cert) {
		t.Error("unknown matching type matches")
	}
}

func TestRecordString(t *testing.T) {
	t.Parallel()
	short := Record{UsageDANEEE, SelectorSPKI, MatchSHA256, []byte{0xab, 0x01}}
	if got := short.String(); got != "3 1 1 ab01" {
		t.Errorf("String = %q", got)
	}
	long := Record{UsageDANETA, SelectorCert, MatchFull, bytes.Repeat([]byte{0xcd}, 40)}
	if got, want := long.String(), "2 0 0 "+strings.Repeat("cd", 32)+"…"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

// FuzzRecord checks that records from any wire data never panic, and that
// a match is exactly what miekg/dns computes for the certificate.
func FuzzRecord(f *testing.F) {
	f.Add(uint8(3), uint8(1), uint8(1), "00")
	f.Add(uint8(2), uint8(0), uint8(0), "3082")
	f.Add(uint8(9), uint8(9), uint8(9), "zz")
	cert := issue(f, certSpec{cn: "fuzz", names: []string{"mx.example"}}, nil).cert
	f.Add(uint8(3), uint8(0), uint8(1), hex.EncodeToString(sha256Of(cert.Raw)))
	f.Fuzz(func(t *testing.T, usage, selector, mtype uint8, data string) {
		r := fromRR(&dns.TLSA{Usage: usage, Selector: selector, MatchingType: mtype, Certificate: data})
		_ = r.String()
		if !r.Match(cert) {
			return
		}
		want, err := dns.CertificateToDANE(selector, mtype, cert)
		if err != nil || !strings.EqualFold(want, data) {
			t.Errorf("%v matches, but miekg/dns gives %q, %v", r, want, err)
		}
	})
}

func sha256Of(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}
