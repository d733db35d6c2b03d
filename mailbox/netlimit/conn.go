package netlimit

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// Conn is a connection whose read timeouts are final, and whose reads a
// session can bound by a hard limit.
//
// The protocol libraries set a read deadline before each command and
// treat a timeout as something to answer and then wait again: go-smtp
// answers a command line that arrived without its CRLF when the deadline
// passes and waits for the next one, go-imap answers a half-read command
// with NO and reads on. A client could hold a connection forever by
// sending a few bytes per timeout. Here the first read that times out
// ends reading for good: every later Read returns the same timeout error
// at once, so the library says goodbye and closes.
//
// This departs from net.Conn's usual contract (a deadline can be moved
// after a timeout to read again), which Pillarbox's protocol libraries
// never rely on.
type Conn struct {
	net.Conn
	now     func() time.Time
	release func() // frees the listener's slot; nil when there is none
	once    sync.Once

	mu        sync.Mutex
	deadline  time.Time // the read deadline set last
	limit     time.Time // hard limit on every read deadline; zero: none
	err       error     // the timeout that ended reading
	onTimeout func()
}

// Wrap returns c as a *Conn whose limits count from now (nil: time.Now).
// If c is a *Conn already, Wrap returns it unchanged.
func Wrap(c net.Conn, now func() time.Time) *Conn {
	if lc, ok := c.(*Conn); ok {
		return lc
	}
	if now == nil {
		now = time.Now
	}
	return &Conn{Conn: c, now: now}
}

// Of returns the *Conn c is or runs over, or nil. It looks beneath
// connections that tell what they wrap with a NetConn method, as
// *tls.Conn does.
func Of(c net.Conn) *Conn {
	for range 8 {
		switch v := c.(type) {
		case *Conn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.mu.Lock()
		first := c.err == nil
		if first {
			c.err = err
		}
		f := c.onTimeout
		c.mu.Unlock()
		if first && f != nil {
			f()
		}
	}
	return n, err
}

// OnTimeout sets what to do when reading times out, in place of what
// was set before: f runs once, inside the Read that timed out, before
// that Read returns. A server uses it to say goodbye through whatever
// runs over the connection (TLS included) and close it, rather than let
// its library answer a half-received command first. Nil: nothing.
func (c *Conn) OnTimeout(f func()) {
	c.mu.Lock()
	c.onTimeout = f
	c.mu.Unlock()
}

// Close closes the connection and frees its listener slot, once however
// often it is called. The slot is freed first, so that a client that has
// seen the connection close can connect again at once.
func (c *Conn) Close() error {
	c.once.Do(func() {
		if c.release != nil {
			c.release()
		}
	})
	return c.Conn.Close()
}

// SetReadDeadline sets the read deadline, or the hard limit if that
// comes first.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.applyLocked()
}

// SetDeadline sets the write deadline and, as SetReadDeadline does, the
// read deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// LimitReads sets a hard limit d from now on every read, whatever read
// deadlines are set meanwhile: a session uses it to bound a whole
// message transfer. A read that reaches it ends reading like any read
// timeout. d <= 0 lifts the limit.
func (c *Conn) LimitReads(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		c.limit = time.Time{}
	} else {
		c.limit = c.now().Add(d)
	}
	c.applyLocked()
}

// applyLocked gives the connection the earlier of the read deadline and
// the hard limit.
func (c *Conn) applyLocked() error {
	t := c.deadline
	if !c.limit.IsZero() && (t.IsZero() || c.limit.Before(t)) {
		t = c.limit
	}
	return c.Conn.SetReadDeadline(t)
}

// GuardListener returns ln with every plain connection it accepts
// wrapped by Wrap, so that a server's read timeouts are final even when
// it was given a listener that is not a netlimit Listener. A *tls.Conn
// is passed on as it is, since servers tell TLS by that type: for
// implicit TLS, put a netlimit Listener beneath the TLS listener.
func GuardListener(ln net.Listener) net.Listener {
	return guardListener{ln}
}

type guardListener struct{ net.Listener }

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*tls.Conn); ok {
		return c, nil
	}
	return Wrap(c, nil), nil
}
