package dane

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// MXResult is the answer to an MX lookup.
type MXResult struct {
	// MX are the records in the order of the answer; none for NXDOMAIN
	// and NODATA (then the domain itself is the host, RFC 5321 5.1).
	MX []*net.MX
	// Secure is the AD bit: the records, or their absence, were
	// authenticated with DNSSEC. DANE applies to the hosts only when it
	// is set (RFC 7672 2.2.1).
	Secure bool
}

// LookupMX looks up the MX records of domain. NXDOMAIN and NODATA give an
// empty result, not an error; an error is a *LookupError.
func (r *Resolver) LookupMX(ctx context.Context, domain string) (MXResult, error) {
	a, err := r.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return MXResult{}, err
	}
	res := MXResult{Secure: a.secure}
	for _, rr := range a.rrs {
		if mx, ok := rr.(*dns.MX); ok {
			res.MX = append(res.MX, &net.MX{Host: mx.Mx, Pref: mx.Preference})
		}
	}
	return res, nil
}

// HostResult is the answer to an address lookup.
type HostResult struct {
	// Name is the host's canonical name: the host itself, or the end of
	// its CNAME chain. Lower case, without the trailing dot.
	Name string
	// IPs are the A and AAAA addresses; none for NXDOMAIN and NODATA.
	IPs []net.IP
	// Secure is set when both the A and the AAAA answers (CNAMEs
	// included) were authenticated.
	Secure bool
}

// LookupHost looks up the A and AAAA records of host, in parallel. An
// error (a *LookupError) from either lookup is the result.
func (r *Resolver) LookupHost(ctx context.Context, host string) (HostResult, error) {
	var wg sync.WaitGroup
	var a4 answer
	var err4 error
	wg.Go(func() { a4, err4 = r.query(ctx, host, dns.TypeA) })
	a6, err6 := r.query(ctx, host, dns.TypeAAAA)
	wg.Wait()
	if err4 != nil {
		return HostResult{}, err4
	}
	if err6 != nil {
		return HostResult{}, err6
	}
	res := HostResult{Name: trimDot(a4.name), Secure: a4.secure && a6.secure}
	if len(a4.rrs) == 0 && len(a6.rrs) > 0 {
		res.Name = trimDot(a6.name)
	}
	for _, rr := range append(a4.rrs, a6.rrs...) {
		switch rr := rr.(type) {
		case *dns.A:
			res.IPs = append(res.IPs, rr.A)
		case *dns.AAAA:
			res.IPs = append(res.IPs, rr.AAAA)
		}
	}
	return res, nil
}

// TLSAResult is the answer to a TLSA lookup.
type TLSAResult struct {
	// Name is the name asked, "_25._tcp.mx.example.".
	Name string
	// Found is set when the answer held TLSA records, usable or not.
	Found bool
	// Secure is the AD bit: the records, or their absence, were
	// authenticated. Records that are not secure must be ignored
	// (RFC 7672 2.2).
	Secure bool
	// Usable are the records SMTP can use (Record.Usable); Unusable the
	// others, kept for the log.
	Usable, Unusable []Record
}

// LookupTLSA looks up the TLSA records of host for the SMTP port
// (_25._tcp.<host>, RFC 7672 2.2.3), following CNAMEs the resolver
// returns. NXDOMAIN and NODATA give a result without records, not an
// error; an error is a *LookupError, which on a secure host means the
// host must not be used now (RFC 7672 2.1.1).
func (r *Resolver) LookupTLSA(ctx context.Context, host string) (TLSAResult, error) {
	name := fmt.Sprintf("_%d._tcp.%s", r.port, dns.Fqdn(host))
	a, err := r.query(ctx, name, dns.TypeTLSA)
	if err != nil {
		return TLSAResult{}, err
	}
	res := TLSAResult{Name: name, Secure: a.secure}
	var records []Record
	for _, rr := range a.rrs {
		if t, ok := rr.(*dns.TLSA); ok {
			records = append(records, fromRR(t))
		}
	}
	res.Found = len(records) > 0
	res.Usable, res.Unusable = splitUsable(records)
	return res, nil
}

// Validates reports whether the resolver authenticates answers: it asks
// for the root zone's NS records, which are signed, and looks for the AD
// bit. For the log at start, so that an operator learns that DANE will
// never apply with this resolver.
func (r *Resolver) Validates(ctx context.Context) (bool, error) {
	a, err := r.query(ctx, ".", dns.TypeNS)
	if err != nil {
		return false, err
	}
	return a.secure, nil
}

func trimDot(name string) string { return strings.TrimSuffix(name, ".") }
