package dane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Options configure a Resolver.
type Options struct {
	// Addr is the validating resolver as "IP:port" (the [dns] resolver
	// key). Required.
	Addr string
	// Port is the SMTP port the TLSA names are for: _25._tcp.<host>
	// (RFC 7672 2.2.3). Zero means 25; tests that dial another port set
	// it to that port.
	Port int
	// Timeout bounds each exchange with the resolver (UDP, then TCP after
	// a truncated answer) when the context has no earlier deadline. Zero
	// means 5 s.
	Timeout time.Duration
}

// Resolver looks up MX, address and TLSA records at one validating
// resolver and reports whether each answer was authenticated. Safe for
// concurrent use.
type Resolver struct {
	addr    string
	port    int
	timeout time.Duration
}

// New returns a Resolver for opts.
func New(opts Options) (*Resolver, error) {
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("dane: resolver %q: %w", opts.Addr, err)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("dane: resolver %q: not an IP address", opts.Addr)
	}
	r := &Resolver{addr: opts.Addr, port: opts.Port, timeout: opts.Timeout}
	if r.port == 0 {
		r.port = 25
	}
	if r.port < 0 || r.port > 65535 {
		return nil, fmt.Errorf("dane: port %d out of range", opts.Port)
	}
	if r.timeout <= 0 {
		r.timeout = 5 * time.Second
	}
	return r, nil
}

// udpSize is the EDNS0 buffer offered for UDP answers, the size DNS Flag
// Day 2020 settled on to avoid IP fragmentation; larger answers come
// truncated and are asked again over TCP.
const udpSize = 1232

// maxCNAME bounds the CNAME chain followed within one answer.
const maxCNAME = 8

// LookupError is a lookup the resolver did not answer with records or a
// denial: an error code such as SERVFAIL (a validating resolver's answer
// for bogus data, RFC 4035 5.5) or REFUSED, no answer at all, or a
// malformed one. It is never NXDOMAIN or an empty answer (NODATA), which
// are results. Every LookupError is temporary.
type LookupError struct {
	Name  string // the name asked, with a trailing dot
	Type  string // the record type asked, "TLSA"
	Rcode int    // the answer's RCODE, or -1 when there was none
	Err   error  // what went wrong when Rcode is -1
}

func (e *LookupError) Error() string {
	if e.Rcode >= 0 {
		return fmt.Sprintf("dane: %s %s: resolver answered %s", e.Name, e.Type, dns.RcodeToString[e.Rcode])
	}
	return fmt.Sprintf("dane: %s %s: %v", e.Name, e.Type, e.Err)
}

func (e *LookupError) Unwrap() error { return e.Err }

// Temporary is true: a failed lookup may succeed later.
func (e *LookupError) Temporary() bool { return true }

// Timeout reports whether the resolver did not answer in time.
func (e *LookupError) Timeout() bool {
	var ne net.Error
	return errors.Is(e.Err, context.DeadlineExceeded) || errors.As(e.Err, &ne) && ne.Timeout()
}

// answer is what one query found.
type answer struct {
	name   string   // the owner of rrs: the name asked, or the end of its CNAME chain
	rrs    []dns.RR // the records of the asked type at name
	secure bool     // the AD bit: the resolver authenticated the answer or the denial
}

// query asks the resolver for name's records of type qtype, over UDP and
// again over TCP when the answer is truncated (RFC 7766 5).
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (answer, error) {
	name = dns.Fqdn(name)
	fail := func(rcode int, err error) (answer, error) {
		return answer{}, &LookupError{Name: name, Type: dns.TypeToString[qtype], Rcode: rcode, Err: err}
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	// DO asks a validating resolver for DNSSEC processing (RFC 3225, RFC
	// 4035 3.2.1); AD=1 in the query asks for the AD bit in the answer
	// as well (RFC 6840 5.7).
	m.AuthenticatedData = true
	m.SetEdns0(udpSize, true)
	resp, err := r.exchange(ctx, "udp", m)
	if err == nil && resp.Truncated {
		resp, err = r.exchange(ctx, "tcp", m)
	}
	if err != nil {
		return fail(-1, err)
	}
	if !resp.Response || len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, name) ||
		resp.Question[0].Qtype != qtype {
		return fail(-1, errors.New("the answer is for another question"))
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		// NXDOMAIN: no records, and, with AD, an authenticated denial
		// (RFC 4035 3.2.3).
		return answer{name: strings.ToLower(name), secure: resp.AuthenticatedData}, nil
	default:
		return fail(resp.Rcode, nil)
	}
	owner, rrs, err := chase(resp.Answer, name, qtype)
	if err != nil {
		return fail(-1, err)
	}
	// The AD bit covers the whole answer, CNAMEs included (RFC 4035
	// 3.2.3): a chain through an unsigned zone is not secure.
	return answer{name: owner, rrs: rrs, secure: resp.AuthenticatedData}, nil
}

// exchange runs one exchange over network, ended early when ctx is done.
func (r *Resolver) exchange(ctx context.Context, network string, m *dns.Msg) (*dns.Msg, error) {
	c := dns.Client{Net: network, Timeout: r.timeout}
	conn, err := c.DialContext(ctx, r.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	defer conn.Close()
	// miekg/dns takes deadlines from ctx but not cancellation: closing
	// the connection ends the read.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return resp, err
}

// chase follows the CNAME chain from name within an answer section and
// returns its last name and the records of type qtype there. A recursive
// resolver puts the whole chain in one answer (RFC 1034 4.3.2).
func chase(rrs []dns.RR, name string, qtype uint16) (string, []dns.RR, error) {
	for range maxCNAME + 1 {
		var found []dns.RR
		next := ""
		for _, rr := range rrs {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, name) {
				continue
			}
			if h.Rrtype == qtype {
				found = append(found, rr)
			} else if c, ok := rr.(*dns.CNAME); ok {
				next = c.Target
			}
		}
		if len(found) > 0 || next == "" {
			return strings.ToLower(name), found, nil
		}
		name = next
	}
	return "", nil, fmt.Errorf("more than %d CNAMEs", maxCNAME)
}
