package main

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// loadDKIMKey reads a PEM private key (PKCS#8, or PKCS#1 RSA as openssl
// genrsa writes it) that signs the messages of --dkim-key.
func loadDKIMKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("dkim key %s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("dkim key: not a signing key")
	}
	return s, nil
}

// signedMessages makes the n messages of a run up front, each with a
// DKIM signature by key for the From domain, so that the run measures
// the server's verification and not the generator's signing.
func signedMessages(g *messageGen, rcpts []string, n int, selector string, key crypto.Signer) ([][]byte, error) {
	_, domain, _ := strings.Cut(g.from, "@")
	opts := &dkim.SignOptions{Domain: domain, Selector: selector, Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"}}
	out := make([][]byte, n)
	now := time.Now()
	for i := range out {
		msg := g.appendMessage(nil, int64(i), rcpts[i%len(rcpts)], now)
		var b bytes.Buffer
		if err := dkim.Sign(&b, bytes.NewReader(msg), opts); err != nil {
			return nil, fmt.Errorf("dkim: signing message %d: %w", i, err)
		}
		out[i] = b.Bytes()
	}
	return out, nil
}
