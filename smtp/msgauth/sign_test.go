package msgauth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// signKeys makes an RSA-2048 and an Ed25519 key and the TXT lookup that
// publishes their records under example.org.
func signKeys(t *testing.T) ([]Key, func(string) ([]string, error)) {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := []Key{{Selector: "pbr", Signer: rk}, {Selector: "pbe", Signer: ek}}
	records := map[string]string{}
	for _, k := range keys {
		rec, err := KeyRecord(k.Signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		records[k.Selector+"._domainkey.example.org"] = rec
	}
	return keys, func(name string) ([]string, error) {
		if r, ok := records[name]; ok {
			return []string{r}, nil
		}
		return nil, fmt.Errorf("no TXT record for %s", name)
	}
}

const signMsg = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: hello\r\n" +
	"Date: Mon, 02 Jan 2026 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"\r\n" +
	"Hi Bob.\r\n"

func TestSignVerifiesBothAlgorithms(t *testing.T) {
	keys, lookup := signKeys(t)
	signed, err := Sign([]byte(signMsg), "example.org", keys)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(signed, []byte(signMsg)) {
		t.Fatal("the message itself changed")
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("%d signatures, want 2", len(vs))
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("signature %s: %v", v.Domain, v.Err)
		}
		if v.Domain != "example.org" {
			t.Errorf("d=%s", v.Domain)
		}
		if n := countFold(v.HeaderKeys, "from"); n != 2 {
			t.Errorf("From signed %d times, want 2 (oversigned): h=%v", n, v.HeaderKeys)
		}
	}
	for _, want := range []string{"a=rsa-sha256", "a=ed25519-sha256", "c=relaxed/relaxed"} {
		if !bytes.Contains(signed, []byte(want)) {
			t.Errorf("no %s in the signatures", want)
		}
	}
}

func countFold(l []string, s string) int {
	n := 0
	for _, x := range l {
		if strings.EqualFold(x, s) {
			n++
		}
	}
	return n
}

// A From added after signing, above or below the signed one, breaks both
// signatures: that is what signing From twice is for.
func TestSignSecondFromBreaksSignatures(t *testing.T) {
	keys, lookup := signKeys(t)
	signed, err := Sign([]byte(signMsg), "example.org", keys)
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.Index(signed, []byte("\r\n\r\n"))
	for name, forged := range map[string][]byte{
		"added on top":    append([]byte("From: ceo@example.org\r\n"), signed...),
		"added at bottom": append(append(append([]byte{}, signed[:end+2]...), "From: ceo@example.org\r\n"...), signed[end+2:]...),
		"body changed":    bytes.Replace(signed, []byte("Hi Bob."), []byte("Pay me."), 1),
		"subject changed": bytes.Replace(signed, []byte("Subject: hello"), []byte("Subject: hellO"), 1),
	} {
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(forged), &dkim.VerifyOptions{LookupTXT: lookup})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.Err == nil {
				t.Errorf("%s: a signature still verifies", name)
			}
		}
	}
}

// Relaxed canonicalization (RFC 6376 3.4.2, 3.4.4) lets a signature
// survive the whitespace and header case changes relays make.
func TestSignRelaxedSurvivesWhitespace(t *testing.T) {
	keys, lookup := signKeys(t)
	signed, err := Sign([]byte(signMsg), "example.org", keys)
	if err != nil {
		t.Fatal(err)
	}
	moved := bytes.Replace(signed, []byte("Subject: hello"), []byte("SUBJECT:   hello "), 1)
	moved = bytes.Replace(moved, []byte("Hi Bob.\r\n"), []byte("Hi  Bob. \r\n\r\n"), 1)
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(moved), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("%v", v.Err)
		}
	}
}

func TestSignNoKeys(t *testing.T) {
	if _, err := Sign([]byte(signMsg), "example.org", nil); err == nil {
		t.Fatal("signed with no keys")
	}
}
