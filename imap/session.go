package imap

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"pillarbox/mailbox"
)

// The capabilities a session has beyond imapserver.Session, checked by
// the compiler.
var (
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

// session is one connection's IMAP session.
type session struct {
	srv  *Server
	conn *imapserver.Conn
	ip   string // remote address without port, for the login throttle

	account mailbox.Account // zero until login
	// stopTracking ends the tracking of the login (TrackSession).
	stopTracking func()
	view         *view // the selected mailbox, nil if none

	// busy is held while a command changes mail, so that Shutdown lets it
	// finish before it closes the connection.
	busy sync.Mutex
}

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	if err := startConn(c); err != nil {
		return nil, nil, err
	}
	sess := &session{srv: s, conn: c}
	if addr := c.NetConn().RemoteAddr(); addr != nil {
		sess.ip = addr.String()
		if host, _, err := net.SplitHostPort(sess.ip); err == nil {
			sess.ip = host
		}
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.sessions[sess] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	}
	return &guardedSession{session: sess, guard: installGuard(c)}, nil, nil
}

// ctx is the context of a command: the library gives none, so commands
// are bounded by a generous timeout instead.
func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), commandTimeout)
}

// commandTimeout bounds the database work of one command.
const commandTimeout = 5 * time.Minute

// Close ends the session (the library calls it when the connection ends).
func (s *session) Close() error {
	if s.stopTracking != nil {
		s.stopTracking()
	}
	if s.view != nil {
		s.view.close()
		s.view = nil
	}
	s.srv.mu.Lock()
	delete(s.srv.sessions, s)
	s.srv.mu.Unlock()
	return nil
}

// shutdown waits for a command that changes mail to end, then says BYE.
func (s *session) shutdown(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		s.busy.Lock()
		close(done)
	}()
	select {
	case <-done:
		s.conn.Bye("Server shutting down")
		s.busy.Unlock()
	case <-ctx.Done():
		go func() { <-done; s.busy.Unlock() }()
		s.conn.Bye("Server shutting down")
	}
}

// Login checks a password; every failure waits a little longer than the
// last one from the same address (mailbox.Throttle), and unknown users
// fail exactly like wrong passwords.
func (s *session) Login(username, password string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	acct, err := s.srv.svc.Authenticate(ctx, username, password)
	if errors.Is(err, mailbox.ErrAuthFailed) {
		t := s.srv.opts.Throttle
		t.Fail(s.ip)
		time.Sleep(t.Delay(s.ip))
		s.srv.log.Info("imap login failed", "remote", s.ip)
		return imapserver.ErrAuthFailed
	}
	if err != nil {
		return s.fail("login", err)
	}
	s.srv.opts.Throttle.Succeed(s.ip)
	s.account = acct
	// Deleting the account or changing its password ends the session: BYE
	// closes the connection, which also fails a command in flight.
	s.stopTracking = s.srv.svc.TrackSession(acct, func(reason string) { s.conn.Bye(reason) })
	s.srv.log.Info("imap login", "user", acct.Address, "remote", s.ip)
	return nil
}

// Namespace has one personal namespace with "/" as delimiter (RFC 2342).
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: mailbox.Delimiter}},
	}, nil
}

// AppendLimit is the largest message APPEND takes (RFC 7889).
func (s *session) AppendLimit() uint32 { return uint32(s.srv.opts.AppendLimit) }
