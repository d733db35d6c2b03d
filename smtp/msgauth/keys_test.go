package msgauth

import (
	"context"
	"testing"

	"pillarbox/smtp/msgauth/dnstest"
)

func TestSameKey(t *testing.T) {
	const want = "v=DKIM1; k=rsa; p=QUJD"
	for _, c := range []struct {
		published string
		same      bool
	}{
		{"v=DKIM1; k=rsa; p=QUJD", true},
		{"v=DKIM1;k=rsa;p=QU JD", true},                 // white space in p=
		{"v=DKIM1; p=QUJD", true},                       // k= defaults to rsa
		{"v=DKIM1; k=rsa; h=sha256; t=s; p=QUJD", true}, // other tags
		{"v=DKIM1; k=RSA; p=QUJD", true},
		{"v=DKIM1; k=rsa; p=QUJE", false},
		{"v=DKIM1; k=ed25519; p=QUJD", false},
		{"v=DKIM1; k=rsa; p=", false}, // revoked
		{"v=DKIM2; k=rsa; p=QUJD", false},
		{"garbage", false},
	} {
		if got := SameKey(c.published, want); got != c.same {
			t.Errorf("SameKey(%q) = %v, want %v", c.published, got, c.same)
		}
	}
	if SameKey("v=DKIM1; k=ed25519; p=QUJD", "v=DKIM1; k=ed25519; p=QUJD") != true {
		t.Error("the same Ed25519 record does not match")
	}
}

func TestKeyPublished(t *testing.T) {
	keys, _ := signKeys(t)
	dns := dnstest.Start(t)
	r := dns.Resolver()
	ctx := context.Background()
	rec, err := KeyRecord(keys[0].Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := KeyRecord(keys[1].Signer.Public())
	dns.SetTXT("pbr._domainkey.example.org", "v=spf1 -all", rec)
	dns.SetTXT("pbe._domainkey.example.org", other)
	dns.ServFail("pbx._domainkey.example.org")
	for _, c := range []struct {
		selector string
		ok       bool
		err      bool
	}{
		{"pbr", true, false},
		{"pbe", false, false},  // another key's record
		{"none", false, false}, // no such name
		{"pbx", false, true},   // the lookup failed
	} {
		ok, err := KeyPublished(ctx, r, "example.org", c.selector, keys[0].Signer.Public())
		if ok != c.ok || (err != nil) != c.err {
			t.Errorf("%s: KeyPublished = %v, %v; want %v, error %v", c.selector, ok, err, c.ok, c.err)
		}
	}
}
