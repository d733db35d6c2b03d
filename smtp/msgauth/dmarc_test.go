package msgauth

import (
	"context"
	"strings"
	"testing"
)

func TestDMARC(t *testing.T) {
	t.Parallel()
	ed := newEd25519Key(t)
	for _, tc := range []struct {
		name     string
		records  map[string]string // name -> TXT
		servfail string
		mailFrom string // SPF passes for any domain that has "v=spf1 +all"
		from     string // From header value
		dkimD    string // signing domain, "" for unsigned
		sample   int
		want     DMARCOutcome
	}{
		{name: "reject", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject"},
			mailFrom: "a@evil.example", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCFail, Domain: "example.org", Policy: "reject", Pct: 100, Disposition: "reject"}},
		{name: "quarantine", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=quarantine"},
			mailFrom: "a@evil.example", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCFail, Domain: "example.org", Policy: "quarantine", Pct: 100, Disposition: "quarantine"}},
		{name: "none", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=none"},
			mailFrom: "a@evil.example", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCFail, Domain: "example.org", Policy: "none", Pct: 100, Disposition: "none"}},
		{name: "no record", mailFrom: "a@evil.example", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCNone, Domain: "example.org", Pct: 100, Disposition: "none"}},
		{name: "not DMARC", records: map[string]string{"_dmarc.example.org": "v=DMARC2; p=reject"},
			mailFrom: "a@evil.example", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCNone, Domain: "example.org", Pct: 100, Disposition: "none"}},
		{name: "servfail", servfail: "_dmarc.example.org", mailFrom: "a@evil.example", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCTempError, Domain: "example.org", Pct: 100, Disposition: "none"}},
		{name: "invalid policy", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=rejekt"},
			mailFrom: "a@evil.example", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCPermError, Domain: "example.org", Pct: 100, Disposition: "none"}},
		{name: "junk tags", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject; junk; foo=bar; rf=xml; ri=soon; fo=q;;"},
			mailFrom: "a@evil.example", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCFail, Domain: "example.org", Policy: "reject", Pct: 100, Disposition: "reject"}},
		{name: "sp for a subdomain", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject; sp=quarantine"},
			mailFrom: "a@evil.example", from: "a@mail.example.org",
			want: DMARCOutcome{Result: DMARCFail, Domain: "mail.example.org", Policy: "quarantine", Pct: 100, Disposition: "quarantine"}},
		{name: "p for a subdomain without sp", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject"},
			mailFrom: "a@evil.example", from: "a@mail.example.org",
			want: DMARCOutcome{Result: DMARCFail, Domain: "mail.example.org", Policy: "reject", Pct: 100, Disposition: "reject"}},
		{name: "subdomain record wins", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject; sp=reject", "_dmarc.mail.example.org": "v=DMARC1; p=none"},
			mailFrom: "a@evil.example", from: "a@mail.example.org",
			want: DMARCOutcome{Result: DMARCFail, Domain: "mail.example.org", Policy: "none", Pct: 100, Disposition: "none"}},
		{name: "pct sampled in", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject; pct=50"},
			mailFrom: "a@evil.example", from: "a@example.org", sample: 49,
			want: DMARCOutcome{Result: DMARCFail, Domain: "example.org", Policy: "reject", Pct: 50, Disposition: "reject"}},
		{name: "pct sampled out", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject; pct=50"},
			mailFrom: "a@evil.example", from: "a@example.org", sample: 50,
			want: DMARCOutcome{Result: DMARCFail, Domain: "example.org", Policy: "reject", Pct: 50, Disposition: "quarantine"}},
		{name: "pct 0 quarantine", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=quarantine; pct=0"},
			mailFrom: "a@evil.example", from: "a@example.org", sample: 0,
			want: DMARCOutcome{Result: DMARCFail, Domain: "example.org", Policy: "quarantine", Pct: 0, Disposition: "none"}},
		{name: "spf relaxed", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject", "bounce.example.org": "v=spf1 +all"},
			mailFrom: "a@bounce.example.org", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCPass, Domain: "example.org", Policy: "reject", Pct: 100, AlignedSPF: true, Disposition: "none"}},
		{name: "spf strict", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject; aspf=s", "bounce.example.org": "v=spf1 +all"},
			mailFrom: "a@bounce.example.org", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCFail, Domain: "example.org", Policy: "reject", Pct: 100, Disposition: "reject"}},
		{name: "spf pass unaligned", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject", "evil.example": "v=spf1 +all"},
			mailFrom: "a@evil.example", from: "a@example.org",
			want: DMARCOutcome{Result: DMARCFail, Domain: "example.org", Policy: "reject", Pct: 100, Disposition: "reject"}},
		{name: "dkim relaxed", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject", "ed._domainkey.mail.example.org": ed.record},
			mailFrom: "a@evil.example", from: "a@example.org", dkimD: "mail.example.org",
			want: DMARCOutcome{Result: DMARCPass, Domain: "example.org", Policy: "reject", Pct: 100, AlignedDKIM: true, Disposition: "none"}},
		{name: "dkim strict", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject; adkim=s", "ed._domainkey.mail.example.org": ed.record},
			mailFrom: "a@evil.example", from: "a@example.org", dkimD: "mail.example.org",
			want: DMARCOutcome{Result: DMARCFail, Domain: "example.org", Policy: "reject", Pct: 100, Disposition: "reject"}},
		{name: "dkim strict exact", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject; adkim=s", "ed._domainkey.example.org": ed.record},
			mailFrom: "a@evil.example", from: "a@example.org", dkimD: "example.org",
			want: DMARCOutcome{Result: DMARCPass, Domain: "example.org", Policy: "reject", Pct: 100, AlignedDKIM: true, Disposition: "none"}},
		{name: "dkim by a public suffix sibling", records: map[string]string{"_dmarc.alice.co.uk": "v=DMARC1; p=reject", "ed._domainkey.mallory.co.uk": ed.record},
			mailFrom: "a@evil.example", from: "a@alice.co.uk", dkimD: "mallory.co.uk",
			want: DMARCOutcome{Result: DMARCFail, Domain: "alice.co.uk", Policy: "reject", Pct: 100, Disposition: "reject"}},
		{name: "aligned dkim key lookup fails", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=reject"}, servfail: "ed._domainkey.example.org",
			mailFrom: "a@evil.example", from: "a@example.org", dkimD: "example.org",
			want: DMARCOutcome{Result: DMARCTempError, Domain: "example.org", Policy: "reject", Pct: 100, Disposition: "none"}},
		{name: "uppercase and IDN From", records: map[string]string{"_dmarc.xn--bcher-kva.example": "v=DMARC1; p=reject"},
			mailFrom: "a@evil.example", from: "<a@BÜCHER.example>",
			want: DMARCOutcome{Result: DMARCFail, Domain: "xn--bcher-kva.example", Policy: "reject", Pct: 100, Disposition: "reject"}},
		{name: "two addresses", records: map[string]string{"_dmarc.example.org": "v=DMARC1; p=none"},
			mailFrom: "a@evil.example", from: "a@example.org, b@evil.example",
			want: DMARCOutcome{Result: DMARCFail, Pct: 100, Disposition: "reject", Reason: "From header names 2 addresses"}},
		{name: "group without addresses", mailFrom: "a@evil.example", from: "undisclosed:;",
			want: DMARCOutcome{Result: DMARCFail, Pct: 100, Disposition: "reject", Reason: "From header names 0 addresses"}},
		{name: "two From headers", mailFrom: "a@evil.example", from: "a@example.org\r\nFrom: b@evil.example",
			want: DMARCOutcome{Result: DMARCFail, Pct: 100, Disposition: "reject", Reason: "2 From headers"}},
		{name: "unparseable From", mailFrom: "a@evil.example", from: "<<<",
			want: DMARCOutcome{Result: DMARCFail, Pct: 100, Disposition: "reject", Reason: "unparseable From header"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newVerifyFixture(t)
			f.sample = tc.sample
			for name, txt := range tc.records {
				f.dns.SetTXT(name, txt)
			}
			if tc.servfail != "" {
				f.dns.ServFail(tc.servfail)
			}
			msg := verifyMessage(tc.from)
			if tc.dkimD != "" {
				msg = ed.sign(t, msg, tc.dkimD, "ed")
			}
			got := f.v.Verify(context.Background(), verifyClientIP, "h.example", tc.mailFrom, msg).DMARC
			if tc.want.Reason == "" {
				got.Reason = ""
			}
			if got != tc.want {
				t.Errorf("DMARC = %+v\nwant    %+v", got, tc.want)
			}
		})
	}
}

func TestDMARCKnownTags(t *testing.T) {
	t.Parallel()
	got := dmarcKnownTags("v=DMARC1 ; p = reject; junk; rua=mailto:x@y; pct=20;;x=y=z; sp=none")
	if want := "v=DMARC1;p=reject;pct=20;sp=none"; got != want {
		t.Errorf("dmarcKnownTags = %q, want %q", got, want)
	}
}

func TestDMARCFromDomain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ header, want, err string }{
		{"From: Alice <alice@Example.ORG>\r\n", "example.org", ""},
		{"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\n", "example.org", ""},
		{"From: j@例え.テスト\r\n", "xn--r8jz45g.xn--zckzah", ""},
		{"From:\r\n alice@example.org\r\n", "example.org", ""},
		{"from: alice@example.org\r\n", "example.org", ""},
		{"From: alice@example.org.\r\n", "", "unparseable"}, // RFC 5322 3.4.1: no trailing dot
		{"From: alice@[192.0.2.1]\r\n", "", "malformed"},
		{"From: alice@localhost\r\n", "", "malformed"},
		{"Subject: x\r\n", "", "no From header"},
		{"From: a@example.org\r\nFROM: a@example.org\r\n", "", "2 From headers"},
	} {
		msg := []byte(tc.header + "\r\nbody\r\nFrom: body@example.com\r\n")
		fields, _, _ := verifyHeader(msg, verifyMaxHeaderBytes)
		got, err := dmarcFromDomain(msg, fields)
		if got != tc.want || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %q, %v; want %q, %q", tc.header, got, err, tc.want, tc.err)
		}
	}
}

// FuzzDMARCFromDomain: any header gives either a normalised domain or an
// error, never a panic.
func FuzzDMARCFromDomain(f *testing.F) {
	f.Add([]byte("From: Alice <alice@example.org>\r\n\r\nbody"))
	f.Add([]byte("From: a@b.example, c@d.example\r\n"))
	f.Add([]byte("From: =?utf-8?q?x?= <a@BÜCHER.example>\n\n"))
	f.Add([]byte("From: (comment) \"q\\\"x\"@example.org\r\n From: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		fields, _, _ := verifyHeader(msg, verifyMaxHeaderBytes)
		d, err := dmarcFromDomain(msg, fields)
		if err != nil {
			if d != "" {
				t.Fatalf("domain %q with error %v", d, err)
			}
			return
		}
		if n, err := dmarcNormalizeDomain(d); err != nil || n != d {
			t.Fatalf("domain %q is not normalised: %q, %v", d, n, err)
		}
	})
}

// TestDMARCSeveralRecordsStopDiscovery: RFC 7489 6.6.3 asks the
// organisational domain only when the From domain has no DMARC record;
// several records there end policy discovery (step 5) with no DMARC, rather
// than borrowing the organisational domain's policy.
func TestDMARCSeveralRecordsStopDiscovery(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	f.dns.SetTXT("_dmarc.example.org", "v=DMARC1; p=reject")
	f.dns.SetTXT("_dmarc.mail.example.org", "v=DMARC1; p=none", "v=DMARC1; p=quarantine")
	got := f.v.Verify(context.Background(), verifyClientIP, "h.example", "a@evil.example", verifyMessage("a@mail.example.org")).DMARC
	if got.Result != DMARCNone || got.Policy != "" || got.Disposition != DMARCDispositionNone {
		t.Errorf("DMARC = %+v, want none without a policy", got)
	}
}
