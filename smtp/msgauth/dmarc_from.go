package msgauth

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"golang.org/x/net/idna"
)

// dmarcFromDomain returns the RFC5322.From domain of a message, lowercase
// ASCII. DMARC needs exactly one author domain: zero or several From fields,
// or a From naming zero or several addresses, are errors that the caller
// treats as a DMARC failure (RFC 7489 6.6.1).
func dmarcFromDomain(msg []byte, fields []verifyField) (string, error) {
	var from []verifyField
	for _, f := range fields {
		if bytes.EqualFold(f.name, []byte("From")) {
			from = append(from, f)
		}
	}
	switch len(from) {
	case 0:
		return "", errors.New("no From header")
	case 1:
	default:
		return "", fmt.Errorf("%d From headers", len(from))
	}
	addrs, err := mail.ParseAddressList(verifyUnfold(from[0].value(msg)))
	if err != nil {
		return "", errors.New("unparseable From header")
	}
	if len(addrs) != 1 {
		return "", fmt.Errorf("From header names %d addresses", len(addrs))
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	if at < 0 {
		return "", errors.New("From address has no domain")
	}
	d, err := dmarcNormalizeDomain(addrs[0].Address[at+1:])
	if err != nil {
		return "", errors.New("From domain is malformed")
	}
	return d, nil
}

// dmarcNormalizeDomain returns a domain as lowercase ASCII (A-labels for an
// internationalised name, RFC 5890), so that names compare and look up alike.
// An ASCII name keeps its underscores, which IDNA would refuse.
func dmarcNormalizeDomain(d string) (string, error) {
	d = strings.TrimSuffix(d, ".")
	a := d
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			var err error
			if a, err = idna.Lookup.ToASCII(d); err != nil {
				return "", fmt.Errorf("msgauth: domain %q: %w", d, err)
			}
			break
		}
	}
	a = strings.ToLower(a)
	if len(a) > 253 || !strings.Contains(a, ".") {
		return "", fmt.Errorf("msgauth: %q is not a fully qualified domain", d)
	}
	for _, label := range strings.Split(a, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("msgauth: %q is not a domain", d)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("msgauth: %q is not a domain", d)
			}
		}
	}
	return a, nil
}
