package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

// Submitter is what the submission server needs from the mail store.
type Submitter interface {
	Authenticate(ctx context.Context, username, password string) (mailbox.Account, error)
	CanSendAs(ctx context.Context, acct mailbox.Account, a mailbox.Address) (bool, error)
	IsLocalDomain(domain string) bool
	Resolve(ctx context.Context, a mailbox.Address) (mailbox.Recipient, error)
	Submit(ctx context.Context, sub *mailbox.Submission) (mailbox.Submitted, error)
	// CheckQuota is Mailboxes.CheckQuota, for local recipients.
	CheckQuota(ctx context.Context, accounts []int64, size int64) error
	// TrackSession has end called when the account is deleted or its
	// password changes; stop ends the tracking.
	TrackSession(acct mailbox.Account, end func(reason string)) (stop func())
}

// SubmissionOptions configures NewSubmission: the MX's Options plus what
// only submission needs.
type SubmissionOptions struct {
	Options
	// Throttle limits password guessing; share one with IMAP. Zero: a
	// throttle of its own with mailbox.ThrottleOptions' defaults.
	Throttle *mailbox.Throttle
}

// NewSubmission returns a message submission server (RFC 6409): clients
// log in with AUTH PLAIN or LOGIN, over TLS or on a loopback connection
// only, and may then send from the addresses their account owns to any
// recipient. Local recipients get the message at once, remote ones
// through the queue, in one transaction that commits before the 250.
//
// It has the MX's lifecycle (Serve, Shutdown, Close) and limits.
func NewSubmission(sub Submitter, opts SubmissionOptions) *Server {
	s := NewMX(nil, opts.Options)
	th := opts.Throttle
	if th == nil {
		th = mailbox.NewThrottle(mailbox.ThrottleOptions{})
	}
	s.srv.Backend = gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s.closeOnTimeout(c, s.idleReply())
		return &submissionSession{srv: s, sub: sub, throttle: th, conn: c, wire: s.installWire(c)}, nil
	})
	// go-smtp decides per server; the session decides per connection
	// (plaintextAuthAllowed), so that one server can serve a listener on
	// every interface and still accept loopback logins without TLS.
	s.srv.AllowInsecureAuth = true
	return s
}

// Replies of submission sessions.
var (
	// RFC 4954 section 6.
	errAuthRequired = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errNotOwner     = &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Sender address not owned by the authenticated user"}
	errNullSender   = &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "A null sender is not allowed on submission"}
	errTempLocal    = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary local error, try again later"}
)

// submissionSession is one submission connection's state; STARTTLS
// starts a new one, so a login never crosses from plaintext into TLS.
type submissionSession struct {
	srv      *Server
	sub      Submitter
	throttle *mailbox.Throttle
	conn     *gosmtp.Conn
	wire     *wire // nil if go-smtp's text stream cannot be reached

	acct *mailbox.Account // nil until AUTH succeeds
	// stopTracking ends the tracking of the login (TrackSession); ended
	// is set once the account went away, so that every later command,
	// and one in flight, fails.
	stopTracking func()
	ended        atomic.Bool

	from    mailbox.Address
	fromSet bool
	size    int64 // the SIZE declared at MAIL (RFC 1870), 0 if none
	utf8    bool
	local   []mailbox.Recipient
	remote  []mailbox.Address
	rcptRaw []string
	seen    map[mailbox.Address]bool
	// mail holds the MAIL command's DSN and REQUIRETLS parameters;
	// localParams the local recipients' (local's order), for a success
	// notice; remoteParams the remote ones', for the queue.
	mail         mailbox.QueueParams
	localParams  []mailbox.QueueParams
	remoteParams map[mailbox.Address]mailbox.QueueParams

	inData dataMark

	// running is held by Data while it runs, and Reset waits on it: see
	// session.running.
	running sync.Mutex
	bdat    bdatGuard // under running
}

var _ gosmtp.AuthSession = (*submissionSession)(nil)

func (s *submissionSession) Reset() {
	s.running.Lock()
	defer s.running.Unlock()
	s.bdat.settle(s.srv.log)
	s.inData.end(s.srv)
	s.from, s.fromSet, s.utf8, s.size = mailbox.Address{}, false, false, 0
	s.local, s.remote, s.rcptRaw, s.seen = nil, nil, nil, nil
	s.mail, s.localParams, s.remoteParams = mailbox.QueueParams{}, nil, nil
}

func (s *submissionSession) Logout() error {
	s.inData.end(s.srv)
	if s.stopTracking != nil {
		s.stopTracking()
		s.stopTracking = nil
	}
	return nil
}

// errAccountGone answers every command of a session whose account was
// deleted or whose password changed; the connection is closed with it.
var errAccountGone = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
	Message: "Account deleted or password changed, closing connection"}

// endSession is called by mailbox when the logged-in account is deleted
// or its password changes: it says 421 and closes the connection, which
// also fails a command in flight.
func (s *submissionSession) endSession(string) {
	s.ended.Store(true)
	c := s.conn.Conn()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "421 4.7.0 %s Account deleted or password changed, closing connection\r\n", s.srv.opts.Hostname)
	c.Close()
}

// AuthMechanisms implements gosmtp.AuthSession. Offering none keeps
// AUTH out of EHLO where a password would travel in the clear.
func (s *submissionSession) AuthMechanisms() []string {
	if !plaintextAuthAllowed(s.conn) {
		return nil
	}
	return []string{mechPlain, mechLogin}
}

// Auth implements gosmtp.AuthSession.
func (s *submissionSession) Auth(mech string) (sasl.Server, error) {
	if !plaintextAuthAllowed(s.conn) {
		return nil, s.srv.refused(s.conn, "AUTH", mech, errEncryptionRequired)
	}
	switch mech {
	case mechPlain:
		return newPlainServer(s.login), nil
	case mechLogin:
		return newLoginServer(s.login), nil
	}
	return nil, s.srv.refused(s.conn, "AUTH", mech, gosmtp.ErrAuthUnknownMechanism)
}

// login checks a password and remembers the account. The throttle
// decides first whether and when the password may be checked at all
// (mailbox.Throttle).
func (s *submissionSession) login(identity, username, password string) error {
	ip := remoteIP(s.conn)
	attempt, err := s.throttle.Begin(s.srv.down, ip, username)
	if err != nil {
		var te *mailbox.ThrottledError
		outcome := mailbox.LoginThrottled
		switch {
		case !errors.As(err, &te):
			outcome = mailbox.LoginError
			s.srv.log.Info("smtp: submission login wait ended", "user", clip(username, 100), "remote", ip, "err", err)
		case te.Log:
			s.srv.log.Warn("smtp: submission login refused: too many failures", "user", clip(username, 100), "remote", ip, "refusals", te.Unlogged)
		}
		s.srv.opts.Metrics.Login(outcome)
		return errLoginThrottled
	}
	if attempt.Waited > 0 {
		s.srv.log.Info("smtp: submission login throttled", "user", clip(username, 100), "remote", ip, "waited", attempt.Waited)
	}
	acct, err := s.sub.Authenticate(context.Background(), username, password)
	if err == nil && identity != "" && identity != username {
		// Acting for another identity (RFC 4616's authzid) is not
		// supported: fail like a wrong password.
		err = mailbox.ErrAuthFailed
	}
	if errors.Is(err, mailbox.ErrAuthFailed) {
		attempt.Fail()
		s.srv.opts.Metrics.Login(mailbox.LoginFailed)
		s.srv.log.Warn("smtp: submission login failed", "user", clip(username, 100), "remote", ip)
		return gosmtp.ErrAuthFailed
	}
	if err != nil {
		attempt.Abandon()
		s.srv.opts.Metrics.Login(mailbox.LoginError)
		s.srv.log.Error("smtp: submission login", "user", clip(username, 100), "remote", ip, "err", err)
		return errAuthTemporary
	}
	attempt.Succeed()
	s.srv.opts.Metrics.Login(mailbox.LoginSucceeded)
	s.acct = &acct
	s.stopTracking = s.sub.TrackSession(acct, s.endSession)
	return nil
}

func (s *submissionSession) Mail(from string, opts *gosmtp.MailOptions) error {
	return s.srv.refused(s.conn, "MAIL", from, s.mailCmd(from, opts))
}

func (s *submissionSession) mailCmd(from string, opts *gosmtp.MailOptions) error {
	if len(s.rcptRaw) > 0 {
		return errNestedMail
	}
	s.Reset()
	if s.srv.isClosing() {
		return errShuttingDown
	}
	if s.acct == nil {
		return errAuthRequired
	}
	if s.ended.Load() {
		return errAccountGone
	}
	if !s.srv.opts.MessageRate.AllowAddr(s.conn.Conn().RemoteAddr()) {
		return errMessageRate
	}
	if opts != nil && opts.Size > s.srv.opts.MaxMessageBytes {
		return tooBig(s.srv.opts.MaxMessageBytes)
	}
	if from == "" {
		return errNullSender
	}
	a, err := mailbox.ParseAddress(from)
	if err != nil {
		return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
	}
	if !isASCII(from) && (opts == nil || !opts.UTF8) {
		return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 6, 7}, Message: "Non-ASCII address needs SMTPUTF8"}
	}
	ok, err := s.sub.CanSendAs(context.Background(), *s.acct, a)
	if err != nil {
		s.srv.log.Error("smtp: sender check", "from", a.String(), "err", err)
		return errTempLocal
	}
	if !ok {
		s.srv.log.Warn("smtp: sender not owned", "user", s.acct.Address, "from", a.String(), "remote", remoteIP(s.conn))
		return errNotOwner
	}
	mail, err := mailParams(s.conn, opts)
	if err != nil {
		return err
	}
	s.from, s.fromSet, s.mail = a, true, mail
	s.utf8 = opts != nil && opts.UTF8
	if opts != nil {
		s.size = opts.Size
	}
	return nil
}

func (s *submissionSession) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	return s.srv.refused(s.conn, "RCPT", to, s.rcptCmd(to, opts))
}

func (s *submissionSession) rcptCmd(to string, opts *gosmtp.RcptOptions) error {
	if !s.fromSet {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "MAIL first"}
	}
	if s.ended.Load() {
		return errAccountGone
	}
	a, err := parseRcpt(to, s.utf8)
	if err != nil {
		return err
	}
	if s.seen[a] {
		return nil // RFC 5321 3.3: a duplicate recipient gets one copy
	}
	params, err := rcptParams(s.mail, opts)
	if err != nil {
		return err
	}
	if s.sub.IsLocalDomain(a.Domain) {
		r, err := s.sub.Resolve(context.Background(), a)
		if err != nil {
			return s.srv.rcptError(a, err)
		}
		if err := s.srv.rcptQuotaError(a, s.sub.CheckQuota(context.Background(), r.Accounts, s.size)); err != nil {
			return err
		}
		s.local = append(s.local, r)
		s.localParams = append(s.localParams, params)
	} else {
		s.remote = append(s.remote, a)
		if params != (mailbox.QueueParams{}) {
			if s.remoteParams == nil {
				s.remoteParams = make(map[mailbox.Address]mailbox.QueueParams)
			}
			s.remoteParams[a] = params
		}
	}
	if s.seen == nil {
		s.seen = make(map[mailbox.Address]bool)
	}
	s.seen[a] = true
	s.rcptRaw = append(s.rcptRaw, a.String())
	return nil
}

func (s *submissionSession) Data(r io.Reader) error {
	s.running.Lock()
	defer s.running.Unlock()
	s.bdat.started(r)
	err := s.dataCmd(r)
	return s.srv.refused(s.conn, "DATA", s.from.String(), err)
}

func (s *submissionSession) dataCmd(r io.Reader) error {
	defer s.srv.limitData(s.conn)()
	if len(s.local)+len(s.remote) == 0 {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
	}
	if !s.inData.begin(s.srv) {
		return errShuttingDown
	}

	id := newID()
	var body bytes.Buffer
	body.Grow(16 << 10)
	n, err := s.wire.readMessage(r, &body, s.srv.opts.MaxMessageBytes)
	if err != nil {
		return err
	}
	h, err := readSubmitHeader(body.Bytes())
	if err != nil {
		s.srv.log.Warn("smtp: submission refused, bad header", "id", id, "user", s.acct.Address, "err", err, "remote", remoteIP(s.conn))
		return err
	}
	if err := s.checkAuthors(context.Background(), id, h); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(body.Len() + 1024)
	s.writeTrace(&buf, id)
	s.completeHeader(&buf, h, id)
	sent := sentCopy(buf.Bytes(), body.Bytes(), h)
	writeWithoutBcc(&buf, body.Bytes(), h)

	res, err := s.sub.Submit(context.Background(), &mailbox.Submission{
		Account:      *s.acct,
		From:         s.from,
		Local:        s.local,
		Remote:       s.remote,
		Data:         buf.Bytes(),
		RemoteParams: s.remoteParams,
		Notice:       s.srv.successNotice(s.from.String(), s.acct.ID, s.mail, s.local, s.localParams, buf.Bytes()),
		SentData:     sent,
		Origin:       &mailbox.Origin{Session: id, Client: remoteIP(s.conn), Helo: sanitizeHelo(s.conn.Hostname()), TLS: tlsNote(s.conn)},
	})
	if errors.Is(err, mailbox.ErrAccountGone) || s.ended.Load() && err != nil {
		s.srv.log.Warn("smtp: submission refused, account gone", "id", id, "user", s.acct.Address)
		return errAccountGone
	}
	if err != nil {
		return s.srv.deliveryError(id, err)
	}
	s.srv.opts.Metrics.Received()
	s.srv.log.Info("smtp: submitted", "id", id, "stored", res.ID, "user", s.acct.Address, "from", s.from.String(),
		"to", strings.Join(s.rcptRaw, ","), "local", res.Accounts, "queued", len(res.Queued), "size", n,
		"message_id", res.MessageID, "sent_folder", res.SentFolder, "sent_uid", res.SentUID,
		"sent_by_client", res.SentByClient, "remote", remoteIP(s.conn))
	return nil
}

// writeTrace prepends Return-Path and Received (RFC 5321 4.4). The relay
// drops the Return-Path again before sending the message on.
func (s *submissionSession) writeTrace(buf *bytes.Buffer, id string) {
	opts := s.srv.opts
	fmt.Fprintf(buf, "Return-Path: <%s>\r\n", s.from.String())
	// RFC 3848 and RFC 6531 3.7.3: "A" for an authenticated client, "S"
	// for TLS.
	proto := "ESMTP"
	if s.utf8 {
		proto = "UTF8SMTP"
	}
	if _, ok := s.conn.TLSConnectionState(); ok {
		proto += "S"
	}
	proto += "A"
	helo := sanitizeHelo(s.conn.Hostname())
	fmt.Fprintf(buf, "Received: from %s (%s)\r\n\tby %s (Pillarbox) with %s id %s", helo, bracketIP(s.conn), opts.Hostname, proto, id)
	if len(s.rcptRaw) == 1 {
		fmt.Fprintf(buf, "\r\n\tfor <%s>", s.rcptRaw[0])
	}
	fmt.Fprintf(buf, ";\r\n\t%s\r\n", opts.Now().Format(dateLayout))
}

// dateLayout is RFC 5322 section 3.3's date-time.
const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// completeHeader adds the Message-ID and Date fields that a submission
// server adds when the client left them out (RFC 6409 section 8), and a
// From naming the envelope sender when there is none (submit_headers.go).
func (s *submissionSession) completeHeader(buf *bytes.Buffer, h *submitHeader, id string) {
	if !h.hasID {
		fmt.Fprintf(buf, "Message-ID: <%s.%s@%s>\r\n", strings.ToLower(id), strings.ToLower(newID()), s.srv.opts.Hostname)
	}
	if !h.hasDate {
		fmt.Fprintf(buf, "Date: %s\r\n", s.srv.opts.Now().Format(dateLayout))
	}
	if h.from == nil {
		fmt.Fprintf(buf, "From: <%s>\r\n", s.from.String())
	}
}

// clip shortens untrusted text for a log line.
func clip(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}
