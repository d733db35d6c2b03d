package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// Resolver looks up TXT records; *net.Resolver is one.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Dialer opens connections; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// FetcherOptions configures a Fetcher. Zero values are documented per
// field.
type FetcherOptions struct {
	// Resolver looks up the _mta-sts TXT records. Zero:
	// net.DefaultResolver.
	Resolver Resolver
	// HTTPClient fetches the policies. It must verify the server's
	// certificate (RFC 8461 3.3); a copy of it is used whose
	// CheckRedirect refuses every redirect. Zero: a client built from
	// Dialer and RootCAs, without proxy or keep-alive.
	HTTPClient *http.Client
	// Dialer opens the connections to policy hosts when HTTPClient is
	// nil. Zero: a net.Dialer.
	Dialer Dialer
	// RootCAs verify the policy hosts' certificates when HTTPClient is
	// nil. Zero: the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds one policy fetch, from connecting to the end of the
	// body. Zero: one minute, the timeout RFC 8461 3.3 suggests.
	Timeout time.Duration
}

// Fetcher discovers and downloads MTA-STS policies without caching them
// (Policies caches). Safe for concurrent use.
type Fetcher struct {
	resolver Resolver
	client   *http.Client
	timeout  time.Duration
}

// NewFetcher returns a Fetcher.
func NewFetcher(opts FetcherOptions) *Fetcher {
	f := &Fetcher{resolver: opts.Resolver, timeout: opts.Timeout}
	if f.resolver == nil {
		f.resolver = net.DefaultResolver
	}
	if f.timeout <= 0 {
		f.timeout = time.Minute
	}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		f.client = &c
	} else {
		d := opts.Dialer
		if d == nil {
			d = &net.Dialer{}
		}
		f.client = &http.Client{Transport: &http.Transport{
			DialContext:     d.DialContext,
			TLSClientConfig: &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
			// Each domain has its own policy host, asked once per
			// max_age: an idle connection would never be reused.
			DisableKeepAlives:      true,
			MaxResponseHeaderBytes: MaxPolicySize,
		}}
	}
	// RFC 8461 3.3: "HTTP 3xx redirects MUST NOT be followed". The 3xx
	// response itself then fails the status check.
	f.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return f
}

// LookupID returns the id of domain's MTA-STS TXT record at
// _mta-sts.<domain> (RFC 8461 3.1). An error wrapping ErrNoRecord means
// the domain has no policy to discover; any other error is a DNS failure,
// after which a cached policy still applies.
func (f *Fetcher) LookupID(ctx context.Context, domain string) (string, error) {
	d, err := asciiDomain(domain)
	if err != nil {
		return "", err
	}
	name := "_mta-sts." + d
	txts, err := f.resolver.LookupTXT(ctx, name)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return "", fmt.Errorf("%w: %s has no TXT record", ErrNoRecord, name)
	}
	if err != nil {
		return "", fmt.Errorf("tlspolicy: TXT lookup of %s: %w", name, err)
	}
	id, err := pickRecord(txts)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return id, nil
}

// FetchPolicy downloads and parses domain's policy from
// https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 3.3). The
// certificate must be valid for mta-sts.<domain>, the status 200 (no
// redirect is followed), the media type text/plain, and the body at most
// MaxPolicySize bytes.
func (f *Fetcher) FetchPolicy(ctx context.Context, domain string) (Policy, error) {
	d, err := asciiDomain(domain)
	if err != nil {
		return Policy{}, err
	}
	url := "https://mta-sts." + d + "/.well-known/mta-sts.txt"
	fail := func(format string, args ...any) (Policy, error) {
		return Policy{}, fmt.Errorf("tlspolicy: fetch %s: %w", url, fmt.Errorf(format, args...))
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail("%w", err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := f.client.Do(req)
	if err != nil {
		return fail("%w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if loc := resp.Header.Get("Location"); loc != "" {
			return fail("status %s to %q: redirects are not followed (RFC 8461 3.3)", resp.Status, loc)
		}
		return fail("status %s, want 200", resp.Status)
	}
	// RFC 8461 3.2: the media type is text/plain; a charset or other
	// parameter is allowed.
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
		return fail("content type %q, want text/plain", ct)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return fail("%w", err)
	}
	if len(body) > MaxPolicySize {
		return fail("body longer than %d bytes", MaxPolicySize)
	}
	p, err := Parse(string(body))
	if err != nil {
		return fail("%w", err)
	}
	return p, nil
}

// asciiDomain is the DNS form of a recipient domain: an internationalised
// name becomes its A-labels (RFC 5890), in lower case, without a trailing
// dot. An address literal or other non-host name is an error.
func asciiDomain(domain string) (string, error) {
	d, err := idna.Lookup.ToASCII(trimDot(domain))
	if err != nil || !validHostname(d) {
		return "", fmt.Errorf("tlspolicy: invalid domain %q", domain)
	}
	return strings.ToLower(d), nil
}
