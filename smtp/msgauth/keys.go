package msgauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
)

// Key is one DKIM signing key of a domain: its selector (the label under
// _domainkey, RFC 6376 3.6.2.1) and its private half, an *rsa.PrivateKey
// or an ed25519.PrivateKey (RFC 8463).
type Key struct {
	Selector string
	Signer   crypto.Signer
}

// KeyMinRSABits is the smallest RSA key Sign accepts: RFC 8301 3.2 makes
// verifiers refuse keys under 1024 bits; Pillarbox makes 2048-bit keys.
const KeyMinRSABits = 2048

// KeyParsePKCS8 reads a private key stored as PKCS#8 DER and checks that
// DKIM can sign with it.
func KeyParsePKCS8(selector string, der []byte) (Key, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return Key{}, fmt.Errorf("msgauth: key %s: %w", selector, err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < KeyMinRSABits {
			return Key{}, fmt.Errorf("msgauth: key %s: RSA key of %d bits, want at least %d", selector, k.N.BitLen(), KeyMinRSABits)
		}
		return Key{Selector: selector, Signer: k}, nil
	case ed25519.PrivateKey:
		return Key{Selector: selector, Signer: k}, nil
	}
	return Key{}, fmt.Errorf("msgauth: key %s: unsupported key type %T", selector, k)
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

// KeyZoneLine returns the key record as one zone-file line,
// "selector._domainkey.domain. IN TXT "..." "..."", the record split into
// character-strings of at most 255 bytes (RFC 1035 3.3.14; RFC 6376
// 3.6.2.2 says a verifier joins them).
func KeyZoneLine(domain, selector, record string) string {
	line := selector + "._domainkey." + domain + ". IN TXT"
	for len(record) > 0 {
		n := min(len(record), 255)
		line += ` "` + record[:n] + `"`
		record = record[n:]
	}
	return line
}
