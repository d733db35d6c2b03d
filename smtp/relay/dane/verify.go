package dane

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNoMatch is wrapped by every error of VerifyChain: the server's
// certificate chain matched none of the TLSA records. The text says why
// for each record.
var ErrNoMatch = errors.New("dane: certificate matches no TLSA record")

// VerifyChain checks chain, the certificates a server presented with the leaf
// first, against the TLSA records (RFC 7672 3), of which unusable ones
// are skipped. One match suffices:
//
//   - DANE-EE (3) must match the leaf; its names and validity dates are
//     not looked at (RFC 7672 3.1.1).
//   - DANE-TA (2) must match a certificate of the chain, to which the leaf
//     must chain at time now, with valid dates all along, and the leaf
//     must be valid for one of names (RFC 7672 3.1.2 and 3.2.2): the TLSA
//     base domain and the MX host name (Policy.Names). Wildcards are
//     matched as in RFC 6125 6.4.3, in the left-most label only.
//
// An error wraps ErrNoMatch and says, for each record, why it did not
// match, and gives the leaf's SHA-256 SPKI digest to compare with DNS.
func VerifyChain(chain []*x509.Certificate, records []Record, names []string, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: the server sent no certificate", ErrNoMatch)
	}
	leaf := chain[0]
	var why []string
	for _, rec := range records {
		if !rec.Usable() {
			continue
		}
		var err error
		switch rec.Usage {
		case UsageDANEEE:
			if rec.Match(leaf) {
				return nil
			}
			err = errors.New("does not match the server's certificate")
		case UsageDANETA:
			if err = verifyTA(chain, rec, names, now); err == nil {
				return nil
			}
		}
		why = append(why, fmt.Sprintf("%s: %v", rec, err))
	}
	if len(why) == 0 {
		return fmt.Errorf("%w: no usable TLSA record", ErrNoMatch)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return fmt.Errorf("%w: %s (the server's certificate %q has 3 1 1 %x)",
		ErrNoMatch, strings.Join(why, "; "), leaf.Subject.String(), spki)
}

// verifyTA checks chain against one DANE-TA record: some certificate in
// the chain matches it, the leaf chains to that one, and the leaf is
// valid for one of names.
func verifyTA(chain []*x509.Certificate, rec Record, names []string, now time.Time) error {
	err := errors.New("no certificate in the server's chain matches")
	for i, ta := range chain {
		if !rec.Match(ta) {
			continue
		}
		if err = chainsTo(chain, i, now); err != nil {
			err = fmt.Errorf("matches %q, but: %w", ta.Subject.String(), err)
			continue
		}
		return checkNames(chain[0], names)
	}
	return err
}

// chainsTo builds a path from the leaf to chain[ta], taken as trust
// anchor, through the other certificates of chain. Dates are checked at
// now for every certificate on the path, the anchor included; extended
// key usages are not, as RFC 7672 asks for none.
func chainsTo(chain []*x509.Certificate, ta int, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(chain[ta])
	inter := x509.NewCertPool()
	for i, c := range chain[1:] {
		if i+1 != ta {
			inter.AddCert(c)
		}
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err
}

// checkNames reports whether leaf is valid for one of names. Go matches
// DNS subjectAltNames only, not the subject CN.
func checkNames(leaf *x509.Certificate, names []string) error {
	for _, n := range names {
		if leaf.VerifyHostname(n) == nil {
			return nil
		}
	}
	return fmt.Errorf("the certificate is for %s, not for %s (RFC 7672 3.2.2)",
		listOr(leaf.DNSNames, "no DNS name"), listOr(names, "no name"))
}

func listOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ", ")
}

// VerifyConnection returns a tls.Config.VerifyConnection callback that
// runs VerifyChain on the peer's chain with the time from now (nil for
// time.Now). It is meant for a client configuration with
// InsecureSkipVerify set, which Policy.TLSConfig builds.
func VerifyConnection(records []Record, names []string, now func() time.Time) func(tls.ConnectionState) error {
	if now == nil {
		now = time.Now
	}
	return func(cs tls.ConnectionState) error {
		return VerifyChain(cs.PeerCertificates, records, names, now())
	}
}
