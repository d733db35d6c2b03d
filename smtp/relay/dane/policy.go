package dane

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"
)

// Mode is what DANE asks of a delivery to one host.
type Mode int

const (
	// Off: DANE does not apply (nothing authenticated, or no TLSA
	// records). Deliver as without DANE: opportunistic STARTTLS with the
	// fall-back to plaintext.
	Off Mode = iota
	// Encrypt: authenticated TLSA records exist but none is usable. They
	// still say the host does STARTTLS, so TLS is required, but there is
	// nothing to check the certificate against (RFC 7672 2.2; Postfix
	// does the same).
	Encrypt
	// Verify: TLS is required and the certificate must match one of the
	// usable TLSA records (RFC 7672 3).
	Verify
)

func (m Mode) String() string {
	switch m {
	case Off:
		return "off"
	case Encrypt:
		return "encrypt"
	case Verify:
		return "verify"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Policy is DANE's answer for one host.
type Policy struct {
	Mode Mode
	// Host is the host name as given (an MX target), lower case, without
	// the trailing dot.
	Host string
	// BaseDomain is the TLSA base domain (RFC 7672 2.2.3): Host, or the
	// end of its CNAME chain when the TLSA records are there. The client
	// sends it as SNI (RFC 7672 8.1).
	BaseDomain string
	// Records are the usable TLSA records (Mode Verify).
	Records []Record
	// Reason says in a few words why this mode, for the log.
	Reason string
}

// Names are the reference identifiers a DANE-TA certificate must match
// (RFC 7672 3.2.2): the TLSA base domain and the host name before CNAME
// expansion.
func (p Policy) Names() []string {
	if p.BaseDomain == "" || p.BaseDomain == p.Host {
		return []string{p.Host}
	}
	return []string{p.BaseDomain, p.Host}
}

// TLSConfig returns the client TLS configuration for Mode Encrypt or
// Verify: a clone of base (nil for defaults) with ServerName set to the
// TLSA base domain and Go's PKIX verification replaced by nothing
// (Encrypt) or by the TLSA check (Verify), which sees the time through now
// (nil for time.Now). For Mode Off it returns a plain clone of base.
func (p Policy) TLSConfig(base *tls.Config, now func() time.Time) *tls.Config {
	c := base.Clone()
	if c == nil {
		c = &tls.Config{}
	}
	if p.Mode == Off {
		return c
	}
	c.ServerName = p.BaseDomain
	// The certificate is checked against TLSA records, not the system's
	// roots: a DANE-EE server may well have a self-signed certificate
	// (RFC 7672 3.1.1).
	c.InsecureSkipVerify = true
	c.VerifyConnection = nil
	if p.Mode == Verify {
		c.VerifyConnection = VerifyConnection(p.Records, p.Names(), now)
	}
	return c
}

// Lookup finds the Policy for host, an MX target (or the domain itself
// when there are no MX records), given whether that MX answer was secure
// (RFC 7672 2.2):
//
//   - an insecure MX answer (RFC 7672 2.2.1), or insecure address
//     records, make DANE Off, and no TLSA lookup is made for such hosts,
//     whose zones are often not able to answer one (RFC 7672 2.2);
//   - the TLSA records are looked up at the CNAME-expanded name first and
//     then at the host name (RFC 7672 2.2.3); the first secure RRset
//     found decides: usable records give Verify, only unusable ones
//     Encrypt; none, or only insecure ones, give Off.
//
// An error (a *LookupError, for the addresses or the TLSA records of a
// secure host) means the host must not be tried now (RFC 7672 2.1.1): go
// on to the next MX host, and defer if none is left. The Policy returned
// with an error still names the host.
func (r *Resolver) Lookup(ctx context.Context, host string, mxSecure bool) (Policy, error) {
	host = strings.ToLower(trimDot(host))
	p := Policy{Host: host, BaseDomain: host}
	if !mxSecure {
		p.Reason = "MX records not authenticated (DNSSEC)"
		return p, nil
	}
	h, err := r.LookupHost(ctx, host)
	if err != nil {
		return p, err
	}
	switch {
	case !h.Secure:
		p.Reason = "address records of " + host + " not authenticated (DNSSEC)"
		return p, nil
	case len(h.IPs) == 0:
		p.Reason = host + " has no address records"
		return p, nil
	}
	bases := []string{host}
	if h.Name != host {
		// The chain is secure: h.Secure covers the CNAMEs too.
		bases = []string{h.Name, host}
	}
	p.Reason = "no authenticated TLSA records"
	for _, base := range bases {
		t, err := r.LookupTLSA(ctx, base)
		if err != nil {
			return p, err
		}
		switch {
		case !t.Found:
			continue
		case !t.Secure:
			p.Reason = "TLSA records at " + t.Name + " not authenticated (DNSSEC)"
			continue
		}
		p.BaseDomain = base
		if len(t.Usable) == 0 {
			p.Mode = Encrypt
			p.Reason = fmt.Sprintf("%d TLSA records at %s, none usable (%s)", len(t.Unusable), t.Name, t.Unusable[0].unusable())
			return p, nil
		}
		p.Mode = Verify
		p.Records = t.Usable
		p.Reason = fmt.Sprintf("%d usable TLSA records at %s", len(t.Usable), t.Name)
		return p, nil
	}
	return p, nil
}
