package imap

import (
	"context"
	"errors"
	"net"
	"strings"
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

	// The library runs Idle in a goroutine of its own and calls Close as
	// soon as the connection's read fails, without waiting for Idle to
	// return. Close therefore marks the session ended under idleMu and
	// waits for idling before it lets go of the view; an Idle that starts
	// after that returns at once.
	idleMu sync.Mutex
	ended  bool
	idling sync.WaitGroup
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
	s.idleMu.Lock()
	s.ended = true
	s.idleMu.Unlock()
	// The library has closed Idle's stop channel before it calls Close:
	// an Idle still running returns after the poll it is in.
	s.idling.Wait()
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

// Login checks a password, LOGIN's and AUTHENTICATE PLAIN's (the library
// sends both here). The throttle decides first whether and when the
// password may be checked at all (mailbox.Throttle); unknown users fail
// exactly like wrong passwords.
func (s *session) Login(username, password string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	attempt, err := s.srv.opts.Throttle.Begin(s.srv.down, s.ip, username)
	if err != nil {
		var te *mailbox.ThrottledError
		outcome := mailbox.LoginThrottled
		switch {
		case !errors.As(err, &te):
			outcome = mailbox.LoginError
			s.srv.log.Info("imap login wait ended", "user", clip(username), "remote", s.ip, "err", err)
		case te.Log:
			s.srv.log.Warn("imap login refused: too many failures", "user", clip(username), "remote", s.ip, "refusals", te.Unlogged)
		}
		s.srv.onLogin(outcome)
		return errThrottled
	}
	if attempt.Waited > 0 {
		s.srv.log.Info("imap login throttled", "user", clip(username), "remote", s.ip, "waited", attempt.Waited)
	}
	acct, err := s.srv.svc.Authenticate(ctx, username, password)
	if errors.Is(err, mailbox.ErrAuthFailed) {
		attempt.Fail()
		s.srv.onLogin(mailbox.LoginFailed)
		s.srv.log.Info("imap login failed", "user", clip(username), "remote", s.ip)
		return imapserver.ErrAuthFailed
	}
	if err != nil {
		attempt.Abandon()
		s.srv.onLogin(mailbox.LoginError)
		return s.fail("login", err)
	}
	attempt.Succeed()
	s.srv.onLogin(mailbox.LoginSucceeded)
	s.account = acct
	// Deleting the account or changing its password ends the session: BYE
	// closes the connection, which also fails a command in flight.
	s.stopTracking = s.srv.svc.TrackSession(acct, func(reason string) { s.conn.Bye(reason) })
	s.srv.log.Info("imap login", "user", acct.Address, "remote", s.ip)
	return nil
}

// errThrottled refuses a login whose password was not checked. RFC 5530
// section 3: UNAVAILABLE is the temporary failure after which trying
// again later may work; AUTHENTICATIONFAILED would tell the client that
// the same password will never work.
var errThrottled = no(imap.ResponseCodeUnavailable, "Too many failed logins, try again later")

// clip shortens untrusted text for a log line.
func clip(s string) string {
	if len(s) > 100 {
		return strings.ToValidUTF8(s[:100], "") + "..."
	}
	return s
}

// Namespace has one personal namespace with "/" as delimiter (RFC 2342).
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: mailbox.Delimiter}},
	}, nil
}

// AppendLimit is the largest message APPEND takes (RFC 7889).
func (s *session) AppendLimit() uint32 { return uint32(s.srv.opts.AppendLimit) }
