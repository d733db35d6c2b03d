package msgauth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Key is one DKIM signing key of a domain: its selector (the label under
// _domainkey, RFC 6376 3.6.2.1) and its private half, an *rsa.PrivateKey
// or an ed25519.PrivateKey (RFC 8463).
type Key struct {
	Selector string
	Signer   crypto.Signer
}

// KeyRecord returns the DKIM key record to publish as TXT at
// selector._domainkey.domain for the public half pub (RFC 6376 3.6.1):
// "v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>" or, for Ed25519
// (RFC 8463 4.2), "v=DKIM1; k=ed25519; p=<base64 of the 32 raw bytes>".
func KeyRecord(pub crypto.PublicKey) (string, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("msgauth: key record: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", errors.New("msgauth: key record: unsupported key type")
}

// SameKey reports whether the DKIM key record published names the same
// public key as the record expected (both as KeyRecord writes them):
// the same key type (k=, "rsa" when absent, RFC 6376 3.6.1) and the same
// p=, white space aside. Other tags (h=, t=, s=, n=) do not matter.
// A revoked record (empty p=) names no key.
func SameKey(published, expected string) bool {
	got, want := dkimTags(published), dkimTags(expected)
	kind := func(t map[string]string) string {
		if k, ok := t["k"]; ok {
			return strings.ToLower(k)
		}
		return "rsa"
	}
	if v, ok := got["v"]; ok && v != "DKIM1" {
		return false
	}
	return got["p"] != "" && got["p"] == want["p"] && kind(got) == kind(want)
}

// TXTResolver looks up TXT records; *net.Resolver is one.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// KeyPublished reports whether selector._domainkey.domain has a TXT record
// naming the public key pub, as receivers will look it up. A name that
// does not exist is (false, nil); any other lookup failure is an error.
func KeyPublished(ctx context.Context, r TXTResolver, domain, selector string, pub crypto.PublicKey) (bool, error) {
	want, err := KeyRecord(pub)
	if err != nil {
		return false, err
	}
	txts, err := r.LookupTXT(ctx, selector+"._domainkey."+domain)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("msgauth: DKIM key %s._domainkey.%s: %w", selector, domain, err)
	}
	for _, t := range txts {
		if SameKey(t, want) {
			return true, nil
		}
	}
	return false, nil
}
