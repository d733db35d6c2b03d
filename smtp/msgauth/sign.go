package msgauth

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/emersion/go-msgauth/dkim"
)

// SignHeaderFields returns the header fields Sign covers, in order: those
// RFC 6376 5.4.1 recommends signing. From is listed twice: a signer may
// name a field more often than it occurs, and a verifier then treats the
// extra instance as empty (RFC 6376 5.4.2), so a second From added in
// transit breaks the signature (oversigning) instead of being shown to
// the reader as the author.
func SignHeaderFields() []string {
	return []string{
		"From", "From",
		"Reply-To", "Subject", "Date", "To", "Cc",
		"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
		"In-Reply-To", "References",
		"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
		"List-Subscribe", "List-Post", "List-Owner", "List-Archive",
		"Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	}
}

// Sign returns msg with one DKIM-Signature header field per key put on
// top, each made for domain (the d= tag) with relaxed/relaxed
// canonicalization (RFC 6376 3.4) over SignHeaderFields. Each signature
// covers the message as given, not the other signatures. msg should have
// CRLF line endings, as it will have on the wire: the body hash is taken
// over exactly these bytes.
func Sign(msg []byte, domain string, keys []Key) ([]byte, error) {
	if len(keys) == 0 {
		return nil, errors.New("msgauth: sign: no keys")
	}
	var sigs bytes.Buffer
	for _, k := range keys {
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 domain,
			Selector:               k.Selector,
			Signer:                 k.Signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             SignHeaderFields(),
		})
		if err != nil {
			return nil, fmt.Errorf("msgauth: sign with %s: %w", k.Selector, err)
		}
		_, werr := s.Write(msg)
		if err := s.Close(); err != nil || werr != nil {
			return nil, fmt.Errorf("msgauth: sign with %s: %w", k.Selector, errors.Join(werr, err))
		}
		sigs.WriteString(s.Signature())
	}
	out := make([]byte, 0, sigs.Len()+len(msg))
	return append(append(out, sigs.Bytes()...), msg...), nil
}
