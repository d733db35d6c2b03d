package msgauth

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dmarc"
)

// Resolver is the DNS the Verifier uses. *net.Resolver satisfies it; the
// method set is what blitiri.com.ar/go/spf needs, and DKIM and DMARC use
// LookupTXT only.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// VerifierOptions configure a Verifier.
type VerifierOptions struct {
	// Resolver answers every lookup. Nil means net.DefaultResolver.
	Resolver Resolver
	// Hostname is the authserv-id written in, and stripped from,
	// Authentication-Results (RFC 8601 2.5). Empty means "localhost".
	Hostname string
	// Timeout bounds each DNS lookup. Zero means 10 seconds.
	Timeout time.Duration
	// CacheTTL is how long DNS answers (and "no such name") are kept for
	// later messages. Zero means 1 minute; negative means no cache.
	CacheTTL time.Duration
	// Now is the cache's clock. Nil means time.Now.
	Now func() time.Time
	// Sample returns a number in [0, 100) for DMARC pct sampling
	// (RFC 7489 6.6.4). Nil means math/rand/v2.
	Sample func() int
}

// Verifier checks incoming messages. It is safe for concurrent use.
type Verifier struct {
	res      verifyResolver
	hostname string
	sample   func() int
}

// NewVerifier returns a Verifier; see VerifierOptions for the defaults.
func NewVerifier(opts VerifierOptions) *Verifier {
	v := &Verifier{hostname: opts.Hostname, sample: opts.Sample}
	v.res = verifyResolver{r: opts.Resolver, timeout: opts.Timeout}
	if opts.CacheTTL >= 0 {
		v.res.cache = &verifyCache{ttl: opts.CacheTTL, now: opts.Now, entries: make(map[verifyCacheKey]verifyCacheEntry)}
		if v.res.cache.ttl == 0 {
			v.res.cache.ttl = time.Minute
		}
		if v.res.cache.now == nil {
			v.res.cache.now = time.Now
		}
	}
	if v.res.r == nil {
		v.res.r = net.DefaultResolver
	}
	if v.res.timeout <= 0 {
		v.res.timeout = 10 * time.Second
	}
	if v.hostname == "" {
		v.hostname = "localhost"
	}
	if v.sample == nil {
		v.sample = func() int { return rand.IntN(100) }
	}
	return v
}

// Verdict is what Verify found out about one message.
type Verdict struct {
	SPF   SPFOutcome
	DKIM  []DKIMOutcome // one per DKIM-Signature field, in header order, the unchecked past dkimMaxSignatures as one; none if unsigned
	DMARC DMARCOutcome

	authservID string
}

// Verify checks SPF for the client ip and the MAIL FROM domain (the HELO
// domain when mailFrom is empty), every DKIM signature of msg, and DMARC for
// its From domain. The lookups run concurrently, each bounded by the
// timeout; a DNS failure gives temperror, never fail. Verify reads msg but
// does not keep it.
func (v *Verifier) Verify(ctx context.Context, ip net.IP, helo, mailFrom string, msg []byte) Verdict {
	fields, end, hasBody := verifyHeader(msg, verifyMaxHeaderBytes)
	from, fromErr := dmarcFromDomain(msg, fields)

	var (
		wg   sync.WaitGroup
		spf  SPFOutcome
		sigs []DKIMOutcome
		pol  dmarcPolicy
	)
	wg.Go(func() { spf = v.spfCheck(ctx, ip, helo, mailFrom) })
	wg.Go(func() { sigs = v.dkimCheck(ctx, msg, fields, end, hasBody) })
	if fromErr == nil {
		wg.Go(func() { pol = v.dmarcFetchPolicy(ctx, from) })
	}
	wg.Wait()

	return Verdict{
		SPF:        spf,
		DKIM:       sigs,
		DMARC:      v.dmarcEvaluate(from, fromErr, pol, spf, sigs),
		authservID: v.hostname,
	}
}

// verifyResolver bounds each lookup by the timeout and turns every failure
// into a *net.DNSError, unwrapped, since blitiri spf and go-msgauth tell a
// temporary failure from a permanent one by asserting that type: an error of
// another type would otherwise become a permanent error.
type verifyResolver struct {
	r       Resolver
	timeout time.Duration
	cache   *verifyCache
}

func (vr verifyResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookupCached(vr.cache, ctx, "LookupTXT", name, func(ctx context.Context, name string) (l []string, err error) {
		ctx, cancel := context.WithTimeout(ctx, vr.timeout)
		defer cancel()
		l, err = vr.r.LookupTXT(ctx, name)
		return l, verifyDNSError(err, name)
	})
}

func (vr verifyResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return lookupCached(vr.cache, ctx, "LookupIPAddr", host, func(ctx context.Context, host string) (l []net.IPAddr, err error) {
		ctx, cancel := context.WithTimeout(ctx, vr.timeout)
		defer cancel()
		l, err = vr.r.LookupIPAddr(ctx, host)
		return l, verifyDNSError(err, host)
	})
}

func (vr verifyResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return lookupCached(vr.cache, ctx, "LookupMX", name, func(ctx context.Context, name string) (l []*net.MX, err error) {
		ctx, cancel := context.WithTimeout(ctx, vr.timeout)
		defer cancel()
		l, err = vr.r.LookupMX(ctx, name)
		return l, verifyDNSError(err, name)
	})
}

func (vr verifyResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return lookupCached(vr.cache, ctx, "LookupAddr", addr, func(ctx context.Context, addr string) (l []string, err error) {
		ctx, cancel := context.WithTimeout(ctx, vr.timeout)
		defer cancel()
		l, err = vr.r.LookupAddr(ctx, addr)
		return l, verifyDNSError(err, addr)
	})
}

// verifyDNSError keeps a *net.DNSError (unwrapped) and makes anything else a
// temporary one: an unknown failure must not be taken as a permanent answer.
// Only "no such name" is an answer; Go's resolver reports REFUSED, FORMERR
// and an unreadable reply as errors that are neither, which the libraries
// would take as permanent (RFC 7208 4.4: any RCODE but 0 and 3 is a
// temperror).
func verifyDNSError(err error, name string) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		if !de.IsNotFound && !de.IsTemporary {
			c := *de
			c.IsTemporary = true
			return &c
		}
		return de
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true,
		IsTimeout: errors.Is(err, context.DeadlineExceeded)}
}

// AuthenticatedFor reports whether SPF or a DKIM signature passed for domain
// or a domain in the same organisational domain (relaxed alignment, RFC 7489
// 3.1): the test for mail that claims a local domain at the MX.
func (v Verdict) AuthenticatedFor(domain string) bool {
	d, err := dmarcNormalizeDomain(domain)
	if err != nil {
		return false
	}
	if v.SPF.Result == SPFPass && dmarcAligned(v.SPF.Domain, d, dmarc.AlignmentRelaxed) {
		return true
	}
	for _, s := range v.DKIM {
		if s.Result == DKIMPass && dmarcAligned(s.Domain, d, dmarc.AlignmentRelaxed) {
			return true
		}
	}
	return false
}

// Summary is a short form of the verdict for a log line, such as
// "spf=pass dkim=pass,fail dmarc=fail/reject".
func (v Verdict) Summary() string {
	s := "spf=" + string(v.SPF.Result) + " dkim="
	if len(v.DKIM) == 0 {
		s += string(DKIMNone)
	}
	for i, d := range v.DKIM {
		if i > 0 {
			s += ","
		}
		s += string(d.Result)
	}
	s += " dmarc=" + string(v.DMARC.Result)
	if v.DMARC.Disposition != "" && v.DMARC.Disposition != DMARCDispositionNone {
		s += "/" + string(v.DMARC.Disposition)
	}
	return s
}
