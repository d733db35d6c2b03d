package relay

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strings"

	"pillarbox/smtp/relay/tlspolicy"
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
	// smarthost: hosts is the smarthost (Security's smarthost rules).
	smarthost bool
	// sts is the domain's MTA-STS policy; the zero Result is none.
	sts tlspolicy.Result
	// mxSecure: DANE is on and the MX answer (or its denial) was
	// authenticated (RFC 7672 2.2.1).
	mxSecure bool
}

// lookupRoute finds the hosts for domain: the smarthost when there is
// one, else the MX records (RFC 5321 5.1), of which an MTA-STS policy in
// mode enforce keeps only those it names (RFC 8461 4.1).
func (r *Runner) lookupRoute(ctx context.Context, domain string) route {
	if r.opts.Smarthost != "" {
		host, port, _ := net.SplitHostPort(r.opts.Smarthost)
		return route{hosts: []string{host}, port: port, smarthost: true}
	}
	mxs, secure, err := r.lookupMX(ctx, domain)
	if err != nil {
		return route{fail: &reply{temporary: true, status: "4.4.3",
			text: "DNS lookup of MX records for " + domain + " failed: " + err.Error()}}
	}
	if isNullMX(mxs) {
		// RFC 7505 section 4.2.
		return route{fail: &reply{status: "5.1.10",
			text: "Domain " + domain + " does not accept mail (null MX)"}}
	}
	rt := route{hosts: []string{domain}, port: r.opts.Port, implicit: true, mxSecure: secure}
	if len(mxs) > 0 {
		rt = route{hosts: orderMX(mxs, rand.Shuffle), port: r.opts.Port, mxSecure: secure}
	}
	// The bound comes after the policy has kept the hosts it names, so
	// that a policy naming less-preferred hosts still finds them.
	r.applySTS(ctx, domain, &rt)
	if len(rt.hosts) > maxHosts {
		rt.hosts = rt.hosts[:maxHosts]
	}
	return rt
}

// lookupMX looks up domain's MX records at the DANE resolver when DANE
// is on (for the AD bit), else at Options.Resolver. No records (NXDOMAIN
// or NODATA) is no error.
func (r *Runner) lookupMX(ctx context.Context, domain string) ([]*net.MX, bool, error) {
	if d := r.sec.DANE; d != nil {
		res, err := d.LookupMX(ctx, domain)
		return res.MX, res.Secure, err
	}
	mxs, err := r.opts.Resolver.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	if err != nil && errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return nil, false, nil
	}
	return mxs, false, err
}

// applySTS looks up domain's MTA-STS policy, once per attempt as RFC
// 8461 5.1 expects, and applies it to the hosts: in mode enforce only
// the hosts the policy names stay, and with none left the mail is
// deferred, never bounced, until a new lookup finds a new policy (RFC
// 8461 5.1); in mode testing a host the policy does not name is reported
// and tried anyway.
func (r *Runner) applySTS(ctx context.Context, domain string, rt *route) {
	p := r.sec.MTASTS
	if p == nil || strings.HasPrefix(domain, "[") {
		return // an address literal has no policy
	}
	res := p.Lookup(ctx, domain)
	if res.Err != nil {
		r.log.Info("relay: MTA-STS lookup", "domain", domain, "mode", res.Policy.Mode.String(),
			"source", res.Source.String(), "err", res.Err)
	}
	rt.sts = res
	if !res.Checks() {
		return
	}
	var kept []string
	for _, h := range rt.hosts {
		switch {
		case res.Policy.Matches(h):
			kept = append(kept, h)
		case res.Permits(h):
			r.stsTestingFailure(res.Domain, h, errors.New("the MX host is not named by the policy"))
			kept = append(kept, h)
		default:
			r.log.Warn("relay: MX host skipped: not named by the MTA-STS policy", "domain", domain, "remote", h,
				"policy_mx", res.Policy.MX)
		}
	}
	rt.hosts = kept
	if len(kept) == 0 {
		rt.fail = &reply{temporary: true, status: "4.7.5",
			text: "no MX host of " + domain + " is named by its MTA-STS policy (mx: " + strings.Join(res.Policy.MX, ", ") + ")"}
	}
}

// isNullMX reports whether records are RFC 7505's null MX: one record
// whose exchange is the root.
func isNullMX(mxs []*net.MX) bool {
	return len(mxs) == 1 && strings.TrimSuffix(mxs[0].Host, ".") == ""
}

// orderMX sorts MX hosts by preference, in random order among equal
// preferences (RFC 5321 5.1), and drops trailing dots, empty names and
// repeated names, and keeps at most maxMXConsidered. lookupRoute keeps
// at most maxHosts of them, once an MTA-STS policy has had its say.
func orderMX(mxs []*net.MX, shuffle func(n int, swap func(i, j int))) []string {
	byPref := slices.Clone(mxs)
	shuffle(len(byPref), func(i, j int) { byPref[i], byPref[j] = byPref[j], byPref[i] })
	slices.SortStableFunc(byPref, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	var hosts []string
	seen := map[string]bool{}
	for _, mx := range byPref {
		h := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		hosts = append(hosts, h)
		if len(hosts) == maxMXConsidered {
			break
		}
	}
	return hosts
}

// maxMXConsidered bounds the MX hosts an MTA-STS policy is matched
// against (and the log lines of those it skips); real domains have a
// handful.
const maxMXConsidered = 50
