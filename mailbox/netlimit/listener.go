// Package netlimit bounds what network clients can hold on to: a
// listener that caps the connections open at once, in total and per
// client address, before a server does any work for them, and keeps
// accepting when the process runs short of file descriptors; and
// connections whose read timeouts are final.
package netlimit

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Options configures a Listener. Zero values are documented per field.
type Options struct {
	// MaxConns caps the connections open at once. Zero: no cap.
	MaxConns int
	// MaxConnsPerIP caps the connections open at once from one IPv4
	// address or one IPv6 /64, the block a single site usually gets.
	// Zero: no cap.
	MaxConnsPerIP int
	// Total caps the connections open at once over every Listener that
	// shares it; one more is refused like one over MaxConns. Nil: no
	// such cap.
	Total *Total
	// ConnRate limits how often one client may connect; a connection
	// over it is refused like one over a cap. Give each Listener its own.
	// Nil: no limit.
	ConnRate *Rate
	// Refusal is written to a connection over a cap before it is closed,
	// such as SMTP's 421 or IMAP's BYE. Nil: closed without a word, which
	// is right for implicit TLS, where the client expects a handshake.
	Refusal []byte
	// Logger gets accept errors and, at most once a minute, how many
	// connections were refused. Zero: slog.Default().
	Logger *slog.Logger
	// Refused, if set, is called with the reason of each connection
	// refused: "max_connections" (the listener's cap) or
	// "max_connections_per_ip". For metrics; it runs in Accept, so it
	// must be quick. Zero: refusals are only logged.
	Refused func(reason string)
	// Now is the clock of refusals and of the connections' read limits.
	// Zero: time.Now.
	Now func() time.Time
}

// Reasons given to Options.Refused.
const (
	RefusedMaxConns      = "max_connections"
	RefusedMaxConnsPerIP = "max_connections_per_ip"
	RefusedConnRate      = "connections_per_minute"
	RefusedTotal         = "max_connections_total"
)

// refusalTimeout bounds the write of a refusal. A new connection's send
// buffer is empty, so the write does not wait in practice, and Accept
// may do it itself without holding a goroutine and a descriptor per
// refused client.
const refusalTimeout = time.Second

// Accept errors are retried after a wait that doubles from minBackoff
// up to maxBackoff: running out of descriptors (EMFILE, ENFILE) or
// kernel memory (ENOBUFS, ENOMEM) passes once connections close.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// refusalLogEvery spaces the log lines about refused connections, so
// that a flood does not become a flood of log lines.
const refusalLogEvery = time.Minute

// Listener is a net.Listener that enforces Options' caps. Its Accept
// returns *Conn, which frees its slot when closed. Use one Listener per
// listening socket.
type Listener struct {
	inner     net.Listener
	opts      Options
	log       *slog.Logger
	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	open     int
	perIP    map[netip.Prefix]int
	refused  int       // since the last log line about refusals
	loggedAt time.Time // of that line
}

// NewListener returns a Listener accepting from inner.
func NewListener(inner net.Listener, opts Options) *Listener {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Listener{inner: inner, opts: opts, log: opts.Logger,
		closed: make(chan struct{}), perIP: make(map[netip.Prefix]int)}
}

// Accept waits for the next connection within the caps. A connection
// over a cap gets the refusal and is closed, and Accept waits on. An
// error from the socket other than its closing is logged and retried
// after a short wait, so that the servers above, some of which stop at
// errors they do not deem temporary, keep serving.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			delay = min(max(2*delay, minBackoff), maxBackoff)
			l.log.Warn("netlimit: accept failed, retrying", "addr", l.inner.Addr().String(), "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		if lc := l.admit(c); lc != nil {
			return lc, nil
		}
	}
}

// admit takes a slot for c, or refuses it and returns nil.
func (l *Listener) admit(c net.Conn) *Conn {
	key, keyed := clientKey(c.RemoteAddr())
	// Every attempt spends from the client's rate, refused or not: one
	// that hammers a full listener is still hammering.
	limited := !l.opts.ConnRate.AllowAddr(c.RemoteAddr())
	l.mu.Lock()
	reason := ""
	switch {
	case limited:
		reason = RefusedConnRate
	case l.opts.MaxConns > 0 && l.open >= l.opts.MaxConns:
		reason = RefusedMaxConns
	case keyed && l.opts.MaxConnsPerIP > 0 && l.perIP[key] >= l.opts.MaxConnsPerIP:
		reason = RefusedMaxConnsPerIP
	case !l.opts.Total.acquire():
		// Taken last, so that a connection refused for another cap
		// does not hold a slot of every listener's.
		reason = RefusedTotal
	}
	if reason != "" {
		refused, open := l.countRefusalLocked()
		l.mu.Unlock()
		if refused > 0 {
			l.log.Warn("netlimit: connections refused", "addr", l.inner.Addr().String(), "refused", refused,
				"last_client", key.String(), "last_reason", reason, "open", open, "max", l.opts.MaxConns, "max_per_ip", l.opts.MaxConnsPerIP)
		}
		if l.opts.Refused != nil {
			l.opts.Refused(reason)
		}
		l.refuse(c)
		return nil
	}
	l.open++
	if keyed {
		l.perIP[key]++
	}
	l.mu.Unlock()
	return &Conn{Conn: c, now: l.opts.Now, release: func() { l.release(key, keyed) }}
}

// countRefusalLocked counts a refusal. Once a minute at most it returns
// the refusals counted since it last did, to be logged, and the open
// connections; otherwise zero.
func (l *Listener) countRefusalLocked() (refused, open int) {
	l.refused++
	now := l.opts.Now()
	if !l.loggedAt.IsZero() && now.Sub(l.loggedAt) < refusalLogEvery {
		return 0, 0
	}
	refused, l.refused, l.loggedAt = l.refused, 0, now
	return refused, l.open
}

// refuse sends the refusal and closes c.
func (l *Listener) refuse(c net.Conn) {
	if len(l.opts.Refusal) > 0 {
		c.SetWriteDeadline(l.opts.Now().Add(refusalTimeout))
		c.Write(l.opts.Refusal)
	}
	c.Close()
}

func (l *Listener) release(key netip.Prefix, keyed bool) {
	l.opts.Total.release()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if keyed {
		if l.perIP[key]--; l.perIP[key] <= 0 {
			delete(l.perIP, key)
		}
	}
}

// Open returns how many accepted connections are open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Close closes the socket; open connections stay open.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.inner.Close()
}

// Addr returns the socket's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// clientKey is what the per-address cap counts by: the IPv4 address, or
// the /64 of an IPv6 address, since one IPv6 host can pick any address
// in its block.
func clientKey(a net.Addr) (netip.Prefix, bool) {
	return ClientPrefix(addrIP(a))
}

// addrIP is a's IP address, or the zero Addr when it has none.
func addrIP(a net.Addr) netip.Addr {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if a == nil {
		return netip.Addr{}
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	return ip
}

// ClientPrefix is what counts as one client: an IPv4 address, or the /64
// of an IPv6 address, which one host usually has whole. It is false for
// an invalid address.
func ClientPrefix(ip netip.Addr) (netip.Prefix, bool) {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return netip.Prefix{}, false
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}
