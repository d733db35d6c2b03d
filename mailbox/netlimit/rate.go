package netlimit

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateOptions configures NewRate. Zero values are documented per field.
type RateOptions struct {
	// PerMinute is how many events one client may have in a minute,
	// spread evenly, with bursts up to the same number. Zero: no limit.
	PerMinute int
	// Exempt lists the client addresses that are never limited, such as
	// loopback, where the host's own programs connect from.
	Exempt []netip.Prefix
	// MaxClients bounds the memory: the clients tracked at once. Past
	// it, clients whose budget is whole (as good as untracked) are
	// forgotten first, then any. Zero: 100000.
	MaxClients int
	// Now is the clock. Zero: time.Now.
	Now func() time.Time
}

// Rate limits how often each client, an IPv4 address or an IPv6 /64
// (ClientPrefix), may do something: connect, send a message. A nil *Rate
// allows everything. It is safe for concurrent use.
type Rate struct {
	opts  RateOptions
	limit rate.Limit

	mu      sync.Mutex
	clients map[netip.Prefix]*rate.Limiter
}

// NewRate returns a Rate, or nil (no limit) when o.PerMinute is zero.
func NewRate(o RateOptions) *Rate {
	if o.PerMinute <= 0 {
		return nil
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 100000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Rate{opts: o, limit: rate.Limit(float64(o.PerMinute) / 60),
		clients: make(map[netip.Prefix]*rate.Limiter)}
}

// Allow spends one event of ip's budget and reports whether there was
// one. An exempt or invalid address is always allowed: what cannot be
// keyed cannot be counted.
func (r *Rate) Allow(ip netip.Addr) bool {
	if r == nil {
		return true
	}
	ip = ip.Unmap()
	key, ok := ClientPrefix(ip)
	// The exemption looks at the address itself: an exempt ::1/128 does
	// not cover the rest of its /64.
	if !ok || r.exempt(ip) {
		return true
	}
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.clients[key]
	if l == nil {
		if len(r.clients) >= r.opts.MaxClients {
			r.evictLocked(now)
		}
		l = rate.NewLimiter(r.limit, r.opts.PerMinute)
		r.clients[key] = l
	}
	return l.AllowN(now, 1)
}

// AllowAddr is Allow for a connection's remote address.
func (r *Rate) AllowAddr(a net.Addr) bool {
	if r == nil {
		return true
	}
	return r.Allow(addrIP(a))
}

func (r *Rate) exempt(ip netip.Addr) bool {
	for _, p := range r.opts.Exempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// evictLocked makes room for one client: it forgets every client whose
// budget has refilled, since a fresh limiter is the same. If that frees
// nothing, more clients than MaxClients are busy at once, a flood: it
// forgets an arbitrary tenth of them, so that memory stays bounded at
// the cost of letting some of the flood's clients start over (the
// connection caps still hold).
func (r *Rate) evictLocked(now time.Time) {
	burst := float64(r.opts.PerMinute)
	for k, l := range r.clients {
		if l.TokensAt(now) >= burst {
			delete(r.clients, k)
		}
	}
	if len(r.clients) < r.opts.MaxClients {
		return
	}
	drop := max(r.opts.MaxClients/10, 1)
	for k := range r.clients {
		if drop == 0 {
			break
		}
		delete(r.clients, k)
		drop--
	}
}

// tracked returns how many clients r tracks, for tests.
func (r *Rate) tracked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.clients)
}
