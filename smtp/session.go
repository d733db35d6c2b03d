package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

// session is one MX transaction sequence on a connection.
type session struct {
	srv  *Server
	conn *gosmtp.Conn
	wire *wire // nil if go-smtp's text stream cannot be reached

	from      string // normalised envelope sender, "" for <>
	fromSet   bool
	size      int64 // the SIZE declared at MAIL (RFC 1870), 0 if none
	utf8      bool
	rcptRaw   []string
	rcpts     []mailbox.Recipient
	seenRcpts map[mailbox.Address]bool
	// mail holds the MAIL command's DSN and REQUIRETLS parameters,
	// params each recipient's (rcptRaw's order) on top of them.
	mail   mailbox.QueueParams
	params []mailbox.QueueParams

	inData dataMark

	// errors counts the refusals since the session started or last
	// delivered a message (maxSessionErrors); Reset keeps it. Atomic:
	// during BDAT, Data runs beside the connection's goroutine.
	errors atomic.Int32

	// running is held by Data while it runs. During BDAT, go-smtp runs
	// Data in a goroutine of its own and resets the session from the
	// connection's goroutine (on RSET, a new MAIL, an error) without
	// waiting for it; it closes the chunk pipe first, so that Data ends
	// soon. Reset waits on running before it clears the envelope that
	// Data reads.
	running sync.Mutex
	bdat    bdatGuard // under running
}

func (s *session) Reset() {
	s.running.Lock()
	defer s.running.Unlock()
	s.bdat.settle(s.srv.log)
	s.inData.end(s.srv)
	s.from, s.fromSet, s.utf8, s.size = "", false, false, 0
	s.rcptRaw, s.rcpts, s.seenRcpts = nil, nil, nil
	s.mail, s.params = mailbox.QueueParams{}, nil
}

func (s *session) Logout() error {
	s.inData.end(s.srv)
	return nil
}

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	return s.endIfTooMany(s.srv.refused(s.conn, "MAIL", from, s.limitErrors(s.mailCmd(from, opts))))
}

// limitErrors counts a MAIL or RCPT refusal and, past maxSessionErrors,
// answers errTooManyErrors instead, for endIfTooMany once it is logged
// and counted.
func (s *session) limitErrors(err error) error {
	if err == nil || err == errShuttingDown {
		return err
	}
	if int(s.errors.Add(1)) <= maxSessionErrors+len(s.rcpts) {
		return err
	}
	return errTooManyErrors
}

// endIfTooMany ends the session that limitErrors refused: go-smtp would
// answer and read the next command, so the reply is written here and the
// connection closed, and go-smtp's own reply goes nowhere. It comes after
// the refusal is logged and counted, so that a client that sees the
// connection close finds it in the metrics.
func (s *session) endIfTooMany(err error) error {
	if err == errTooManyErrors {
		s.srv.closeWith(s.conn, fmt.Sprintf("%d %d.%d.%d %s %s\r\n", errTooManyErrors.Code, errTooManyErrors.EnhancedCode[0],
			errTooManyErrors.EnhancedCode[1], errTooManyErrors.EnhancedCode[2], s.srv.opts.Hostname, errTooManyErrors.Message))
	}
	return err
}

func (s *session) mailCmd(from string, opts *gosmtp.MailOptions) error {
	if len(s.rcptRaw) > 0 {
		return errNestedMail
	}
	s.Reset()
	if s.srv.isClosing() {
		return errShuttingDown
	}
	if !s.srv.opts.MessageRate.AllowAddr(s.conn.Conn().RemoteAddr()) {
		return errMessageRate
	}
	if opts != nil && opts.Size > s.srv.opts.MaxMessageBytes {
		// RFC 1870 6.3: a declared size above the limit is refused at MAIL.
		return tooBig(s.srv.opts.MaxMessageBytes)
	}
	if from != "" {
		a, err := mailbox.ParseAddress(from)
		if err != nil {
			return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
		}
		if !isASCII(from) && (opts == nil || !opts.UTF8) {
			// RFC 6531 3.4: non-ASCII addresses need the SMTPUTF8 parameter.
			return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 6, 7}, Message: "Non-ASCII address needs SMTPUTF8"}
		}
		s.from = a.String()
	}
	mail, err := mailParams(s.conn, opts)
	if err != nil {
		return err
	}
	s.mail = mail
	s.fromSet = true
	if opts != nil {
		s.size = opts.Size
	}
	s.utf8 = opts != nil && opts.UTF8
	return nil
}

func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	return s.endIfTooMany(s.srv.refused(s.conn, "RCPT", to, s.limitErrors(s.rcptCmd(to, opts))))
}

func (s *session) rcptCmd(to string, opts *gosmtp.RcptOptions) error {
	if !s.fromSet {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "MAIL first"}
	}
	a, err := parseRcpt(to, s.utf8)
	if err != nil {
		return err
	}
	params, err := rcptParams(s.mail, opts)
	if err != nil {
		return err
	}
	if s.seenRcpts[a] {
		return nil // RFC 5321 3.3: a duplicate recipient gets one copy
	}
	r, err := s.srv.mb.Resolve(context.Background(), a)
	if err != nil {
		return s.srv.rcptError(a, err)
	}
	if err := s.srv.rcptQuotaError(a, s.srv.mb.CheckQuota(context.Background(), r.Accounts, s.size)); err != nil {
		return err
	}
	if s.seenRcpts == nil {
		s.seenRcpts = make(map[mailbox.Address]bool)
	}
	s.seenRcpts[a] = true
	s.rcptRaw = append(s.rcptRaw, a.String())
	s.rcpts = append(s.rcpts, r)
	s.params = append(s.params, params)
	return nil
}

func (s *session) Data(r io.Reader) error {
	s.running.Lock()
	defer s.running.Unlock()
	s.bdat.started(r)
	err := s.dataCmd(r)
	if err == nil {
		s.errors.Store(0)
	} else if !errors.Is(err, gosmtp.ErrDataReset) && err != errShuttingDown {
		// Counted, not answered here: go-smtp may be reading BDAT
		// chunks meanwhile; the next MAIL or RCPT refusal answers.
		s.errors.Add(1)
	}
	return s.srv.refused(s.conn, "DATA", s.from, err)
}

func (s *session) dataCmd(r io.Reader) error {
	defer s.srv.limitData(s.conn)()
	if len(s.rcpts) == 0 {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
	}
	if !s.inData.begin(s.srv) {
		return errShuttingDown
	}

	id := newID()
	var buf bytes.Buffer
	buf.Grow(16 << 10)
	s.writeTrace(&buf, id)
	traceLen := buf.Len()
	n, err := s.wire.readMessage(r, &buf, s.srv.opts.MaxMessageBytes)
	if err != nil {
		return err
	}
	raw, dec, err := s.checkInbound(buf.Bytes()[traceLen:])
	if err != nil {
		s.srv.log.Warn("smtp: refused", "id", id, "from", s.from, "to", strings.Join(s.rcptRaw, ","),
			"auth", dec.summary, "reason", err.Error(), "remote", remoteIP(s.conn))
		return err
	}
	data := buf.Bytes()
	if dec.header != "" {
		// Return-Path stays first (RFC 5321 4.4); Authentication-Results
		// goes above our Received, at the top of what came in (RFC 8601 5).
		trace := buf.Bytes()[:traceLen]
		rp := bytes.Index(trace, []byte("\r\n")) + 2
		data = make([]byte, 0, len(dec.header)+traceLen+len(raw))
		data = append(data, trace[:rp]...)
		data = append(data, dec.header...)
		data = append(data, trace[rp:]...)
		data = append(data, raw...)
	}
	var notice *mailbox.Notice
	if !dec.junk && dec.senderVerified {
		// A notice goes only to a sender that SPF or DKIM vouched for
		// (never without the checks): anyone can write another's address
		// in MAIL FROM, and the notice would be backscatter to them.
		notice = s.srv.successNotice(s.from, 0, s.mail, s.rcpts, s.params, data)
	} else if wantsAnySuccess(s.params) {
		s.srv.log.Info("smtp: no success notice to an unverified sender", "id", id, "from", s.from, "auth", dec.summary)
	}
	// Grace: each recipient's quota was checked at RCPT, and this reply
	// is the only one left for all of them (mailbox.Delivery.Grace).
	res, err := s.srv.mb.Deliver(context.Background(), &mailbox.Delivery{From: s.from, Recipients: s.rcpts, Data: data, Junk: dec.junk, Grace: true,
		Notice: notice, Origin: &mailbox.Origin{Session: id, Client: remoteIP(s.conn), Helo: sanitizeHelo(s.conn.Hostname()),
			TLS: tlsNote(s.conn), Auth: dec.summary}})
	if err != nil {
		return s.srv.deliveryError(id, err)
	}
	if res.NoticeQueued != 0 {
		s.srv.opts.Notices.Kick()
	}
	s.srv.opts.Metrics.Received()
	s.srv.log.Info("smtp: received", "id", id, "stored", res.ID, "from", s.from, "to", strings.Join(s.rcptRaw, ","),
		"size", n, "message_id", res.MessageID, "auth", dec.summary, "junk", dec.junk, "remote", remoteIP(s.conn),
		"success_notice", notice != nil)
	return nil
}

// parseRcpt checks a RCPT TO address: its syntax, and that a non-ASCII
// one came with SMTPUTF8 (RFC 6531 3.4).
func parseRcpt(to string, utf8 bool) (mailbox.Address, error) {
	a, err := mailbox.ParseAddress(to)
	if err != nil {
		return a, &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	}
	if !isASCII(to) && !utf8 {
		return a, &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 6, 7}, Message: "Non-ASCII address needs SMTPUTF8"}
	}
	return a, nil
}

// writeTrace prepends Return-Path and Received (RFC 5321 4.4).
func (s *session) writeTrace(buf *bytes.Buffer, id string) {
	opts := s.srv.opts
	fmt.Fprintf(buf, "Return-Path: <%s>\r\n", s.from)
	proto := "ESMTP"
	if s.utf8 {
		proto = "UTF8SMTP" // RFC 6531 3.7.3
	}
	if _, ok := s.conn.TLSConnectionState(); ok {
		proto += "S"
	}
	helo := sanitizeHelo(s.conn.Hostname())
	fmt.Fprintf(buf, "Received: from %s (%s)\r\n\tby %s (Pillarbox) with %s id %s", helo, bracketIP(s.conn), opts.Hostname, proto, id)
	if len(s.rcptRaw) == 1 {
		// Name the recipient only when there is one, so that one copy
		// does not disclose the others (RFC 5321 7.2).
		fmt.Fprintf(buf, "\r\n\tfor <%s>", s.rcptRaw[0])
	}
	fmt.Fprintf(buf, ";\r\n\t%s\r\n", opts.Now().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
}

// refused logs a refused MAIL, RCPT or DATA with the client's address
// and the reply, so that every refusal can be found in the log; arg is
// the command's address (clipped: it comes from the client). It returns
// err.
//
// It also counts the refusal by its reason (Options.Metrics), and hands
// go-smtp the bare reply of a reasoned one, since go-smtp maps replies
// by type assertion.
func (srv *Server) refused(c *gosmtp.Conn, cmd, arg string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gosmtp.ErrDataReset) {
		// The client ended a BDAT transfer (RSET, a new MAIL): nothing
		// was refused, and go-smtp writes no reply for it.
		return err
	}
	srv.log.Info("smtp: refused", "command", cmd, "arg", clip(arg, 100), "reason", err.Error(), "remote", remoteIP(c))
	srv.opts.Metrics.Refused(refusalOf(err))
	if r, ok := err.(*reasoned); ok {
		return r.SMTPError
	}
	return err
}

// tlsNote says how the session uses TLS, for the delivery history.
func tlsNote(c *gosmtp.Conn) string {
	st, ok := c.TLSConnectionState()
	if !ok {
		return ""
	}
	return tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite)
}

func (srv *Server) isClosing() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.closing
}

func remoteIP(c *gosmtp.Conn) string {
	if host, _, err := net.SplitHostPort(c.Conn().RemoteAddr().String()); err == nil {
		return host
	}
	return c.Conn().RemoteAddr().String()
}

func bracketIP(c *gosmtp.Conn) string { return "[" + remoteIP(c) + "]" }

// sanitizeHelo keeps the client's EHLO argument from breaking the header.
func sanitizeHelo(h string) string {
	h = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == '(' || r == ')' || r == ';' {
			return -1
		}
		return r
	}, h)
	if h == "" {
		return "unknown"
	}
	if len(h) > 255 {
		h = h[:255]
	}
	return h
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
