package imap

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
	"pillarbox/store"
)

// session is one connection's IMAP session. Its goroutine reads and
// runs the commands; other goroutines only write to it (a BYE) under its
// writer's lock.
type session struct {
	srv      *Server
	raw      net.Conn // the connection as accepted, closed by other goroutines
	nc       net.Conn // what the session reads and writes through (TLS, DEFLATE)
	br       *bufio.Reader
	bw       *bufio.Writer
	r        *wire.Reader
	w        *wire.Writer
	ip       string // remote address without port, for the login throttle
	loopback bool   // the listener is on loopback: passwords may come in the clear
	tls      bool   // the connection is TLS (implicit, or after STARTTLS)

	// wlock is the writer's lock (see lock), a channel so that a BYE can
	// wait for it with a deadline; inCommand is set while the
	// session's goroutine holds it for a command.
	wlock     chan struct{}
	inCommand bool
	// unflushed is set when a command's responses were left in the
	// buffer for the next flush, the client having pipelined more.
	unflushed bool
	// owed is the last commit that what the session wrote depends on:
	// its writer sends nothing before that commit is durable.
	owed store.Owed
	// awaiting is set while the session waits for a command's first
	// bytes (see firstByte).
	awaiting bool
	endOnce  sync.Once

	account mailbox.Account // zero until login
	// stopTracking ends the tracking of the login (TrackSession).
	stopTracking func()
	view         *view // the selected mailbox, nil if none
	enabled      enabled
	compressed   bool // COMPRESS=DEFLATE is on
	notify       *notifier
	notifying    bool // NOTIFY SET is in force
	// newFetch is what NOTIFY's SELECTED MessageNew asked to be sent of
	// each new message in the selected folder (RFC 5465 5.2), nil if
	// nothing.
	newFetch *fetchItems
	updates  []*update // searches kept up to date (RFC 5267)
	// shownModSeq is the highest MODSEQ the running command's FETCH
	// responses showed (holdBackExpunge).
	shownModSeq uint64
	// searched is the box's version at the snapshot of the running
	// command's last search; pollUpTo, if set, is the version up to which
	// its poll tells changes (that snapshot, tellsUpTo).
	searched, pollUpTo boxVersion
	// after, if set, runs once the tagged response of the command that set
	// it is sent (STARTTLS's handshake).
	after func() error

	// busy is held while a command changes mail, so that Shutdown lets it
	// finish before it closes the connection.
	busy sync.Mutex

	mu    sync.Mutex
	ended bool // the session is over: BYE sent, or the connection closed
}

// enabled are the extensions the client turned on with ENABLE (RFC 5161).
type enabled struct {
	rev2, utf8, condstore, qresync bool
}

func newSession(s *Server, nc net.Conn, loopback bool) *session {
	sess := &session{srv: s, raw: nc, nc: nc, loopback: loopback, notify: newNotifier(), wlock: make(chan struct{}, 1)}
	if addr := nc.RemoteAddr(); addr != nil {
		sess.ip = addr.String()
		if host, _, err := net.SplitHostPort(sess.ip); err == nil {
			sess.ip = host
		}
	}
	sess.br = bufio.NewReaderSize(firstByte{sess}, readBufferSize)
	sess.bw = bufio.NewWriterSize(sess.output(nc), writeBufferSize)
	sess.w = wire.NewWriter(sess.bw)
	sess.r = wire.NewReader(sess.br, sess.continueLiteral, readerOptions(s.opts.AppendLimit))
	sess.r.SetUTF8Quoted(true)
	return sess
}

// readerOptions are the bounds of a session's Reader.
func readerOptions(appendLimit int64) wire.Options {
	return wire.Options{
		MaxAppendSize: appendLimit,
		// Mailbox names are read as IMAP4rev2 clients write them, in
		// UTF-8, beside modified UTF-7 (RFC 9051 5.1).
		MaxDepth: maxSearchDepth,
	}
}

// ctx is the context of a command: bounded by a generous timeout.
// Its writes return once committed (store.Early): the client hears of
// them only through the session's writer, which waits until they are
// durable (durable.go).
func (s *session) ctx() (context.Context, context.CancelFunc) {
	return s.ctxWithin(commandTimeout)
}

// ctxWithin is ctx with the timeout d.
func (s *session) ctxWithin(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(store.Early(context.Background(), &s.owed), d)
}

// commandTimeout bounds the database work of one command.
const commandTimeout = 5 * time.Minute

func (s *session) markEnded() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
}

func (s *session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// Close ends the session when its goroutine is done with it.
func (s *session) Close() error {
	s.lock() // let a BYE being written go out first
	s.markEnded()
	s.nc.Close()
	s.unlock()
	if s.stopTracking != nil {
		s.stopTracking()
	}
	s.stopNotify()
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
		s.writeByeWithin(ctx, "Server shutting down")
		s.busy.Unlock()
	case <-ctx.Done():
		go func() { <-done; s.busy.Unlock() }()
		s.markEnded()
		s.raw.Close() // s.nc may be changing under the writer's lock
	}
}

// Login checks a password, LOGIN's and AUTHENTICATE PLAIN's (both come
// here through login). The throttle decides first whether and when the
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
		return errAuthFailed
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
	s.stopTracking = s.srv.svc.TrackSession(acct, func(reason string) { go s.writeBye(reason) })
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

// errAuthFailed refuses a wrong user name or password (RFC 5530 3).
var errAuthFailed = no(imap.ResponseCodeAuthenticationFailed, "Authentication failed")

// maxSearchDepth is the parser's bound on nesting. The line length does
// not bound it (literals end lines), and each level costs the parse a
// kilobyte or two of stack and heap: 32,768 levels made one half-megabyte
// SEARCH cost some 100 MiB. Searches nested past mailbox.MaxSearchDepth
// get NO [LIMIT] from the search, with how deep they were; past this
// bound, NO [LIMIT] from the parser, before they are read whole. It
// leaves room for clients that put every operand in parentheses
// (imapclient does).
const maxSearchDepth = 2048
