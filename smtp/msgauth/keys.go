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
