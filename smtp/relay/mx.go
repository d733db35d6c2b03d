package relay

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
)

// Resolver looks up MX records; *net.Resolver is one.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// Dialer opens connections; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// maxHosts bounds the hosts tried in one attempt.
const maxHosts = 5

// route is where the mail for one domain goes.
type route struct {
	hosts []string // tried in order, at most maxHosts
	port  string
	// implicit: no MX records, hosts is the domain itself (RFC 5321
	// 5.1), so a name that does not resolve means the domain does not
	// exist.
	implicit bool
	// fail, when set, is the result for every recipient without trying
	// any host: a null MX, or a DNS failure.
	fail *reply
}

// lookupRoute finds the hosts for domain: the smarthost when there is
// one, else the MX records (RFC 5321 5.1).
func (r *Runner) lookupRoute(ctx context.Context, domain string) route {
	if r.opts.Smarthost != "" {
		host, port, _ := net.SplitHostPort(r.opts.Smarthost)
		return route{hosts: []string{host}, port: port}
	}
	mxs, err := r.opts.Resolver.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	switch {
	case err != nil && errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		mxs = nil
	case err != nil:
		return route{fail: &reply{temporary: true, status: "4.4.3",
			text: "DNS lookup of MX records for " + domain + " failed: " + err.Error()}}
	}
	if isNullMX(mxs) {
		// RFC 7505 section 4.2.
		return route{fail: &reply{status: "5.1.10",
			text: "Domain " + domain + " does not accept mail (null MX)"}}
	}
	if len(mxs) == 0 {
		return route{hosts: []string{domain}, port: r.opts.Port, implicit: true}
	}
	return route{hosts: orderMX(mxs, rand.Shuffle), port: r.opts.Port}
}

// isNullMX reports whether records are RFC 7505's null MX: one record
// whose exchange is the root.
func isNullMX(mxs []*net.MX) bool {
	return len(mxs) == 1 && strings.TrimSuffix(mxs[0].Host, ".") == ""
}

// orderMX sorts MX hosts by preference, in random order among equal
// preferences (RFC 5321 5.1), keeps at most maxHosts, and drops trailing
// dots and empty names.
func orderMX(mxs []*net.MX, shuffle func(n int, swap func(i, j int))) []string {
	byPref := slices.Clone(mxs)
	shuffle(len(byPref), func(i, j int) { byPref[i], byPref[j] = byPref[j], byPref[i] })
	slices.SortStableFunc(byPref, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	var hosts []string
	for _, mx := range byPref {
		h := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		if h == "" || slices.Contains(hosts, h) {
			continue
		}
		hosts = append(hosts, h)
		if len(hosts) == maxHosts {
			break
		}
	}
	return hosts
}
