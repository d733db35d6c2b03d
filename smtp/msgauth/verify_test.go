package msgauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"pillarbox/smtp/msgauth/dnstest"
)

// verifyFixture is a Verifier on a loopback DNS server of its own.
type verifyFixture struct {
	dns    *dnstest.Server
	v      *Verifier
	sample int
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	t.Helper()
	f := &verifyFixture{dns: dnstest.Start(t), sample: 0}
	f.v = NewVerifier(VerifierOptions{
		Resolver: f.dns.Resolver(),
		Hostname: "mx.pillarbox.test",
		Timeout:  2 * time.Second,
		Sample:   func() int { return f.sample },
	})
	return f
}

var verifyClientIP = net.ParseIP("192.0.2.1")

// verifyMessage builds a message with CRLF line endings.
func verifyMessage(from string, extra ...string) []byte {
	h := []string{"From: " + from, "To: bob@pillarbox.test", "Subject: dinner",
		"Date: Fri, 11 Jul 2003 21:00:37 -0700", "Message-ID: <1@x.test>"}
	h = append(h, extra...)
	return []byte(strings.Join(h, "\r\n") + "\r\n\r\nHi.\r\n\r\nAre you hungry yet?\r\n")
}

// verifyKey is a DKIM key with its DNS record.
type verifyKey struct {
	signer crypto.Signer
	record string
}

func newEd25519Key(t testing.TB) verifyKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return verifyKey{priv, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
}

func newRSAKey(t testing.TB) verifyKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return verifyKey{priv, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)}
}

// sign prepends a relaxed/relaxed DKIM signature by domain and selector.
func (k verifyKey) sign(t testing.TB, msg []byte, domain, selector string, headers ...string) []byte {
	t.Helper()
	if headers == nil {
		headers = []string{"From", "To", "Subject", "Date", "Message-ID"}
	}
	var b bytes.Buffer
	err := dkim.Sign(&b, bytes.NewReader(msg), &dkim.SignOptions{
		Domain: domain, Selector: selector, Signer: k.signer, HeaderKeys: headers,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestVerifyAllPass(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	ed, rs := newEd25519Key(t), newRSAKey(t)
	f.dns.SetTXT("example.org", "v=spf1 ip4:192.0.2.0/24 -all")
	f.dns.SetTXT("ed._domainkey.example.org", ed.record)
	f.dns.SetTXT("rsa._domainkey.example.org", rs.record)
	f.dns.SetTXT("_dmarc.example.org", "v=DMARC1; p=reject; rua=mailto:d@example.org")
	msg := verifyMessage("Alice <alice@example.org>")
	msg = rs.sign(t, ed.sign(t, msg, "example.org", "ed"), "example.org", "rsa")

	v := f.v.Verify(context.Background(), verifyClientIP, "mail.example.org", "bounce@example.org", msg)
	if v.SPF.Result != SPFPass || v.SPF.Domain != "example.org" || v.SPF.Helo {
		t.Errorf("SPF = %+v", v.SPF)
	}
	if len(v.DKIM) != 2 || v.DKIM[0].Result != DKIMPass || v.DKIM[1].Result != DKIMPass ||
		v.DKIM[0].Selector != "rsa" || v.DKIM[1].Selector != "ed" || v.DKIM[0].Domain != "example.org" {
		t.Errorf("DKIM = %+v", v.DKIM)
	}
	if d := v.DMARC; d.Result != DMARCPass || !d.AlignedSPF || !d.AlignedDKIM || d.Disposition != DMARCDispositionNone ||
		d.Policy != DMARCDispositionReject || d.Domain != "example.org" || d.Pct != 100 {
		t.Errorf("DMARC = %+v", d)
	}
	want := "Authentication-Results: mx.pillarbox.test;\r\n" +
		"\tspf=pass smtp.mailfrom=example.org;\r\n" +
		"\tdkim=pass header.d=example.org header.s=rsa;\r\n" +
		"\tdkim=pass header.d=example.org header.s=ed;\r\n" +
		"\tdmarc=pass header.from=example.org\r\n"
	if got := v.Header(); got != want {
		t.Errorf("Header() =\n%q\nwant\n%q", got, want)
	}
}

// TestVerifyConcurrentLookups shows SPF, DKIM and DMARC lookups run at once:
// three names that never answer cost one timeout, not three.
func TestVerifyConcurrentLookups(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	timeout := 400 * time.Millisecond
	f.v = NewVerifier(VerifierOptions{Resolver: f.dns.Resolver(), Hostname: "mx.pillarbox.test", Timeout: timeout})
	ed := newEd25519Key(t)
	f.dns.Silence("slow.example")
	f.dns.Silence("ed._domainkey.slow.example")
	f.dns.Silence("_dmarc.slow.example")
	msg := ed.sign(t, verifyMessage("a@slow.example"), "slow.example", "ed")
	start := time.Now()
	v := f.v.Verify(context.Background(), verifyClientIP, "h.example", "a@slow.example", msg)
	elapsed := time.Since(start)
	if v.SPF.Result != SPFTempError || len(v.DKIM) != 1 || v.DKIM[0].Result != DKIMTempError || v.DMARC.Result != DMARCTempError {
		t.Errorf("verdict = %+v", v)
	}
	if elapsed >= 3*timeout {
		t.Errorf("Verify took %v with a %v timeout per lookup: the lookups ran one after the other", elapsed, timeout)
	}
}

func TestVerdictAuthenticatedFor(t *testing.T) {
	t.Parallel()
	v := Verdict{
		SPF:  SPFOutcome{Result: SPFPass, Domain: "bounce.example.org"},
		DKIM: []DKIMOutcome{{Domain: "signer.example", Result: DKIMPass}, {Domain: "forged.example", Result: DKIMFail}},
	}
	for domain, want := range map[string]bool{
		"example.org": true, "EXAMPLE.org": true, "mail.example.org": true, "signer.example": true,
		"forged.example": false, "example.net": false, "": false,
	} {
		if got := v.AuthenticatedFor(domain); got != want {
			t.Errorf("AuthenticatedFor(%q) = %v, want %v", domain, got, want)
		}
	}
	v.SPF.Result = SPFSoftFail
	if v.AuthenticatedFor("example.org") {
		t.Error("a softfail authenticates")
	}
	if got, want := v.Summary(), "spf=softfail dkim=pass,fail dmarc="; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	v.DMARC = DMARCOutcome{Result: DMARCFail, Disposition: DMARCDispositionReject}
	if got, want := (Verdict{SPF: v.SPF, DMARC: v.DMARC}).Summary(), "spf=softfail dkim=none dmarc=fail/reject"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

// BenchmarkVerify: one message with two signatures, against the loopback
// DNS server (no cache: every Verify asks it again).
func BenchmarkVerify(b *testing.B) {
	f := &verifyFixture{dns: dnstest.Start(b)}
	f.v = NewVerifier(VerifierOptions{Resolver: f.dns.Resolver(), Hostname: "mx.pillarbox.test"})
	ed, rs := newEd25519Key(b), newRSAKey(b)
	f.dns.SetTXT("example.org", "v=spf1 ip4:192.0.2.0/24 -all")
	f.dns.SetTXT("ed._domainkey.example.org", ed.record)
	f.dns.SetTXT("rsa._domainkey.example.org", rs.record)
	f.dns.SetTXT("_dmarc.example.org", "v=DMARC1; p=reject")
	msg := rs.sign(b, ed.sign(b, verifyMessage("alice@example.org", "X-Body: "+strings.Repeat("x", 900)), "example.org", "ed"), "example.org", "rsa")
	b.ReportAllocs()
	for b.Loop() {
		if v := f.v.Verify(context.Background(), verifyClientIP, "h.example", "a@example.org", msg); v.DMARC.Result != DMARCPass {
			b.Fatalf("verdict %s", v.Summary())
		}
	}
}

// TestVerifyRefusedIsTempError: a resolver's REFUSED (or any answer other
// than NOERROR and NXDOMAIN) says nothing about the records, so SPF and
// DKIM give temperror (RFC 7208 4.4, RFC 6376 6.1.2), not permerror; Go's
// resolver reports it as a DNS error that is neither temporary nor "not
// found", which blitiri spf and go-msgauth took as permanent.
func TestVerifyRefusedIsTempError(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	ed := newEd25519Key(t)
	f.dns.Refuse("refused.example")
	f.dns.Refuse("ed._domainkey.refused.example")
	f.dns.Refuse("_dmarc.refused.example")
	msg := ed.sign(t, verifyMessage("a@refused.example"), "refused.example", "ed")
	v := f.v.Verify(context.Background(), verifyClientIP, "h.example", "a@refused.example", msg)
	if v.SPF.Result != SPFTempError {
		t.Errorf("SPF = %+v, want temperror", v.SPF)
	}
	if len(v.DKIM) != 1 || v.DKIM[0].Result != DKIMTempError {
		t.Errorf("DKIM = %+v, want one temperror", v.DKIM)
	}
	if v.DMARC.Result != DMARCTempError {
		t.Errorf("DMARC = %+v, want temperror", v.DMARC)
	}
}
