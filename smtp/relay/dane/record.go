package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"github.com/miekg/dns"
)

// Usage is a TLSA certificate usage (RFC 6698 2.1.1; names from RFC 7218).
type Usage uint8

// The certificate usages. SMTP uses only DANE-TA and DANE-EE; PKIX-TA and
// PKIX-EE are unusable there (RFC 7672 3.1.3).
const (
	UsagePKIXTA Usage = 0
	UsagePKIXEE Usage = 1
	UsageDANETA Usage = 2
	UsageDANEEE Usage = 3
)

// Selector says which part of a certificate a TLSA record matches
// (RFC 6698 2.1.2).
type Selector uint8

// The selectors: the whole certificate, or its SubjectPublicKeyInfo.
const (
	SelectorCert Selector = 0
	SelectorSPKI Selector = 1
)

// MatchingType says how the selected data is compared (RFC 6698 2.1.3).
type MatchingType uint8

// The matching types: the data itself, or its SHA-256 or SHA-512 digest.
const (
	MatchFull   MatchingType = 0
	MatchSHA256 MatchingType = 1
	MatchSHA512 MatchingType = 2
)

// Record is one TLSA record.
type Record struct {
	Usage        Usage
	Selector     Selector
	MatchingType MatchingType
	// Data is the certificate association data: a DER certificate or
	// SubjectPublicKeyInfo for MatchFull, else a digest of one.
	Data []byte
}

// fromRR converts a TLSA record from miekg/dns, whose association data is
// hex text. Data that is not hex leaves Data empty, which makes the record
// unusable.
func fromRR(rr *dns.TLSA) Record {
	data, err := hex.DecodeString(rr.Certificate)
	if err != nil {
		data = nil
	}
	return Record{Usage: Usage(rr.Usage), Selector: Selector(rr.Selector),
		MatchingType: MatchingType(rr.MatchingType), Data: data}
}

// Usable reports whether SMTP can use the record (RFC 7672 3.1): usage
// DANE-TA or DANE-EE, a known selector and matching type, and data of the
// size the matching type implies. A record that is not usable is ignored;
// it is not an error.
func (r Record) Usable() bool { return r.unusable() == "" }

// unusable says why the record cannot be used, "" when it can.
func (r Record) unusable() string {
	switch r.Usage {
	case UsageDANETA, UsageDANEEE:
	case UsagePKIXTA, UsagePKIXEE:
		return "PKIX usages are not used for SMTP (RFC 7672 3.1.3)"
	default:
		return fmt.Sprintf("unknown usage %d", r.Usage)
	}
	if r.Selector != SelectorCert && r.Selector != SelectorSPKI {
		return fmt.Sprintf("unknown selector %d", r.Selector)
	}
	switch r.MatchingType {
	case MatchFull:
		if len(r.Data) == 0 {
			return "no association data"
		}
	case MatchSHA256:
		if len(r.Data) != sha256.Size {
			return fmt.Sprintf("%d bytes of data for SHA-256", len(r.Data))
		}
	case MatchSHA512:
		if len(r.Data) != sha512.Size {
			return fmt.Sprintf("%d bytes of data for SHA-512", len(r.Data))
		}
	default:
		return fmt.Sprintf("unknown matching type %d", r.MatchingType)
	}
	return ""
}

// Match reports whether c is the certificate (or carries the public key)
// that the record names. It does not look at the usage.
func (r Record) Match(c *x509.Certificate) bool {
	var data []byte
	switch r.Selector {
	case SelectorCert:
		data = c.Raw
	case SelectorSPKI:
		data = c.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch r.MatchingType {
	case MatchFull:
		return len(r.Data) > 0 && bytes.Equal(r.Data, data)
	case MatchSHA256:
		sum := sha256.Sum256(data)
		return bytes.Equal(r.Data, sum[:])
	case MatchSHA512:
		sum := sha512.Sum512(data)
		return bytes.Equal(r.Data, sum[:])
	}
	return false
}

// maxShownData bounds the association data shown by String, in bytes:
// full certificates would fill a log line.
const maxShownData = 32

// String is the record in zone-file form, "3 1 1 8f1a…", with long data
// cut short.
func (r Record) String() string {
	data := r.Data
	more := ""
	if len(data) > maxShownData {
		data, more = data[:maxShownData], "…"
	}
	return fmt.Sprintf("%d %d %d %x%s", r.Usage, r.Selector, r.MatchingType, data, more)
}

// splitUsable separates the records SMTP can use from the others.
func splitUsable(records []Record) (usable, unusable []Record) {
	for _, r := range records {
		if r.Usable() {
			usable = append(usable, r)
		} else {
			unusable = append(unusable, r)
		}
	}
	return usable, unusable
}
