package smtp

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// handshakeTimeout bounds an implicit-TLS client's handshake (submission
// on port 465), as IMAP bounds its own. go-smtp runs the handshake under
// the command timeout (ReadTimeout, 10 minutes), so a client that
// connected and sent nothing held a connection slot that long.
const handshakeTimeout = 30 * time.Second

// handshakeListener hands out implicit-TLS connections once their
// handshake is done, within handshakeTimeout; go-smtp then finds it done.
// Each handshake runs in a goroutine of its own, so that a slow client
// holds up no one; the connection caps beneath TLS bound how many run at
// once. Other connections are handed out as they come.
type handshakeListener struct {
	net.Listener
	ready chan net.Conn
	errc  chan error
	done  chan struct{}
	once  sync.Once
}

func newHandshakeListener(ln net.Listener) *handshakeListener {
	l := &handshakeListener{Listener: ln, ready: make(chan net.Conn), errc: make(chan error), done: make(chan struct{})}
	go l.accept()
	return l
}

// accept takes connections from the listener beneath until it is closed,
// and passes on its errors (go-smtp retries after a temporary one).
func (l *handshakeListener) accept() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errc <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if tc, ok := c.(*tls.Conn); ok {
			go l.handshake(tc)
			continue
		}
		l.hand(c)
	}
}

func (l *handshakeListener) handshake(tc *tls.Conn) {
	tc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		tc.Close()
		return
	}
	tc.SetDeadline(time.Time{})
	l.hand(tc)
}

// hand gives c to Accept, or closes it once the listener is closed.
func (l *handshakeListener) hand(c net.Conn) {
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *handshakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handshakeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}
