package imap

import (
	"crypto/tls"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"pillarbox/mailbox/netlimit"
)

// The library flushes its writer after every response line, which makes
// a system call per message of a FETCH of many messages. coalescingConn
// gathers the writes made while the session is not waiting for input and
// sends them when it starts to wait (a Read), when the buffer is full, or
// at Close; writes made while a Read waits (IDLE updates, BYE) go out at
// once. Since the server always reads again after answering, nothing
// written stays behind.
type coalescingConn struct {
	net.Conn

	mu       sync.Mutex
	buf      []byte
	reading  bool
	err      error     // the first write error, returned from then on
	deadline time.Time // the write deadline the library set last
}

// coalesceLimit is the most a connection holds back.
const coalesceLimit = 32 << 10

// keepBuffer is the largest buffer kept between bursts, so that idle
// connections stay small.
const keepBuffer = 4 << 10

// flushTimeout bounds the sending of what was held back. The library's
// own deadline for those writes has usually been lifted by then (it sets
// one around each response), and a client that stops reading must not
// hold the session forever.
const flushTimeout = 30 * time.Second

func (c *coalescingConn) flushLocked() error {
	return c.flushWithin(flushTimeout)
}

func (c *coalescingConn) flushWithin(d time.Duration) error {
	if c.err != nil {
		return c.err
	}
	if len(c.buf) == 0 {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(d))
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > keepBuffer {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	c.err = err
	return err
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.reading || len(c.buf)+len(p) > coalesceLimit {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if c.reading || len(p) > coalesceLimit {
		c.Conn.SetWriteDeadline(c.deadline)
		n, err := c.Conn.Write(p)
		if err != nil {
			c.err = err
		}
		return n, err
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *coalescingConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.reading = true
	// A failed flush is kept for the next Write; the Read tells how the
	// connection ended (EOF when the client hung up), which is what the
	// library acts on.
	c.flushLocked()
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	return n, err
}

// Close sends what is held back, within a short time even if a deadline
// has passed (TLS sets one to now after its close_notify alert), and
// closes the connection.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	c.flushWithin(5 * time.Second)
	c.mu.Unlock()
	return c.Conn.Close()
}

// SetWriteDeadline records the deadline for the writes that reach the
// connection: the library sets one around every response, and most of
// them only fill the buffer.
func (c *coalescingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

func (c *coalescingConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// NetConn returns the connection beneath, so that netlimit.Of finds it.
func (c *coalescingConn) NetConn() net.Conn { return c.Conn }

// coalescingListener wraps the connections of a plain TCP listener. A TLS
// connection is left as it is: the library tells TLS by its type.
type coalescingListener struct {
	net.Listener
}

func (l coalescingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, isTLS := c.(*tls.Conn); isTLS {
		return c, nil
	}
	return &coalescingConn{Conn: c}, nil
}

// Refusal is the greeting for a connection over a connection cap, for a
// netlimit.Listener's Options.Refusal: a BYE greeting refuses the
// connection (RFC 9051 7.1.5), and UNAVAILABLE (RFC 5530) says it is
// temporary.
func (s *Server) Refusal() []byte {
	return []byte("* BYE [UNAVAILABLE] Too many connections\r\n")
}

// handshakeTimeout bounds an implicit-TLS handshake, like the library's
// wait for a command before login.
const handshakeTimeout = 30 * time.Second

// startConn prepares a new connection for its session. On implicit TLS
// it completes the handshake within handshakeTimeout: the library would
// do it inside the greeting's write with no read deadline at all, so a
// client that connected and sent nothing held the connection for ever.
// Then it sets what a read timeout does (closeOnTimeout).
func startConn(c *imapserver.Conn) error {
	tc, implicitTLS := c.NetConn().(*tls.Conn)
	if implicitTLS {
		tc.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.Handshake(); err != nil {
			return &imap.Error{Type: imap.StatusResponseTypeBye, Text: "TLS handshake failed"}
		}
		tc.SetDeadline(time.Time{})
	}
	closeOnTimeout(c, tc)
	return nil
}

// closeOnTimeout makes the first read timeout on c end the session with
// a BYE (RFC 9051 7.1.5's autologout). The library reads with fixed
// deadlines (30 s before login and for the rest of a command once its
// first byte came, 35 min after login and in IDLE); when one passes in
// the middle of a command it answers NO [SERVERBUG] and waits for the
// next one, so a client sending a byte every 30 s would hold the
// connection for ever. Beneath the library, the netlimit.Conn's reads
// end at the first timeout; this says why and closes.
//
// implicitTLS is c's TLS connection if its handshake is complete. After
// STARTTLS the read that timed out may be the handshake's, which holds
// the lock a write through TLS needs: such a connection is closed
// without a BYE.
func closeOnTimeout(c *imapserver.Conn, implicitTLS *tls.Conn) {
	nc := netlimit.Of(c.NetConn())
	if nc == nil {
		return
	}
	nc.OnTimeout(func() {
		if tc, ok := c.NetConn().(*tls.Conn); ok && tc != implicitTLS {
			nc.Close()
			return
		}
		// It runs inside a Read of the command reader, when the library
		// holds no lock for writing.
		c.Bye("Autologout; timed out waiting for the client")
	})
}
