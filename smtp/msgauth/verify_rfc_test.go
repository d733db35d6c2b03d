package msgauth

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// The example messages and keys of RFC 8463 Appendix A and RFC 6376
// Appendix A (with its errata-corrected signature) and C, as verification
// vectors. The files are stored with LF line endings.
const (
	rfc8463Ed25519Key = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	rfc8463RSAKey     = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
	rfc6376Key        = "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB"
)

func readEML(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func TestVerifyRFCExamples(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	f.dns.SetTXT("brisbane._domainkey.football.example.com", rfc8463Ed25519Key)
	f.dns.SetTXT("test._domainkey.football.example.com", rfc8463RSAKey)
	f.dns.SetTXT("brisbane._domainkey.example.com", rfc6376Key)
	f.dns.SetTXT("_dmarc.football.example.com", "v=DMARC1; p=reject")

	v := f.v.Verify(context.Background(), verifyClientIP, "h.example", "joe@football.example.com", readEML(t, "rfc8463.eml"))
	if len(v.DKIM) != 2 || v.DKIM[0] != (DKIMOutcome{Domain: "football.example.com", Selector: "brisbane", Result: DKIMPass}) ||
		v.DKIM[1] != (DKIMOutcome{Domain: "football.example.com", Selector: "test", Result: DKIMPass}) {
		t.Errorf("RFC 8463: DKIM = %+v", v.DKIM)
	}
	if v.DMARC.Result != DMARCPass || !v.DMARC.AlignedDKIM {
		t.Errorf("RFC 8463: DMARC = %+v", v.DMARC)
	}

	msg := readEML(t, "rfc6376.eml")
	v = f.v.Verify(context.Background(), verifyClientIP, "h.example", "joe@football.example.com", msg)
	if len(v.DKIM) != 1 || v.DKIM[0] != (DKIMOutcome{Domain: "example.com", Selector: "brisbane", Result: DKIMPass}) {
		t.Errorf("RFC 6376: DKIM = %+v", v.DKIM)
	}
	// d=example.com and From football.example.com share the organisational
	// domain example.com: aligned under the default relaxed mode.
	if v.DMARC.Result != DMARCPass || !v.DMARC.AlignedDKIM {
		t.Errorf("RFC 6376: DMARC = %+v", v.DMARC)
	}
	tampered := bytes.Replace(msg, []byte("Is dinner ready?"), []byte("Is lunch ready?"), 1)
	v = f.v.Verify(context.Background(), verifyClientIP, "h.example", "joe@football.example.com", tampered)
	if len(v.DKIM) != 1 || v.DKIM[0].Result != DKIMFail {
		t.Errorf("RFC 6376 tampered: DKIM = %+v", v.DKIM)
	}
}
