package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// reply is what became of one recipient in one attempt: the remote's SMTP
// reply, or a failure before any reply (DNS, network, TLS).
type reply struct {
	code      int    // SMTP reply code; 0 when the remote did not answer
	status    string // enhanced status code, derived when the remote sent none
	text      string // the remote's text, or what went wrong
	remote    string // the host that answered or was tried, "" if none
	temporary bool   // for code 0: may succeed later
	tls       bool   // the remote answered over TLS
	dsn       bool   // the remote offered DSN (RFC 3461): it reports from here on
	tlsNote   string // how the session used TLS (conn.tlsNote)
}

func (r reply) ok() bool { return r.code/100 == 2 }

func (r reply) isTemporary() bool {
	if r.code != 0 {
		return r.code/100 == 4
	}
	return r.temporary
}

// String is the reply as logged and stored: "550 5.1.1 text".
func (r reply) String() string {
	if r.code == 0 {
		return r.text
	}
	if r.status != "" {
		return fmt.Sprintf("%d %s %s", r.code, r.status, r.text)
	}
	return fmt.Sprintf("%d %s", r.code, r.text)
}

// smtpReply turns an SMTP error reply into a reply.
func smtpReply(e *gosmtp.SMTPError, host string) reply {
	r := reply{code: e.Code, text: strings.Join(strings.Fields(e.Message), " "), remote: host}
	if ec := e.EnhancedCode; ec != gosmtp.EnhancedCodeNotSet && ec != gosmtp.NoEnhancedCode && ec[0] == e.Code/100 {
		r.status = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
	}
	return r
}

// errReply turns any error into a reply: an SMTP reply, or a temporary
// failure (network, timeout, TLS: RFC 5321 4.5.4.1 says to try later).
func errReply(err error, host string) reply {
	var ae *authError
	if errors.As(err, &ae) {
		return ae.asReply()
	}
	var gr *greetingRefusal
	if errors.As(err, &gr) {
		return gr.asReply(host)
	}
	if se := refusal(err); se != nil {
		return smtpReply(se, host)
	}
	return reply{status: "4.4.2", text: describe(err, host), remote: host, temporary: true}
}

// greetingRefusal is a host that greeted with 4xx or 5xx instead of 220
// (RFC 5321 3.1: 554, no SMTP service here). It refuses this client
// now, not the message: the next host is tried, and without one the
// mail is deferred, as Postfix does (smtp_skip_5xx_greeting). Its
// reply is kept for the queue and a later bounce.
type greetingRefusal struct{ se *gosmtp.SMTPError }

func (e *greetingRefusal) Error() string {
	return fmt.Sprintf("refused the session: %d %s", e.se.Code, e.se.Message)
}

func (e *greetingRefusal) asReply(host string) reply {
	status := "4.4.2"
	if rp := smtpReply(e.se, host); rp.status != "" {
		status = "4" + rp.status[1:]
	}
	return reply{status: status, text: host + " refused the session: " + e.se.Error(), remote: host, temporary: true}
}

// refusal returns the SMTP error in err when it is a refusal, a 4xx or
// 5xx reply. Any other reply where go-smtp expected another code (a 250
// to DATA, which wants 354; a 3xx to RCPT) is out of sequence (RFC 5321
// 4.3.2): the session cannot go on, and nothing was accepted, so it is a
// failure like a broken connection, to be tried again.
func refusal(err error) *gosmtp.SMTPError {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) && se.Code >= 400 && se.Code < 600 {
		return se
	}
	return nil
}

func describe(err error, host string) string {
	msg := err.Error()
	if host != "" && !strings.Contains(msg, host) {
		msg = host + ": " + msg
	}
	return msg
}

// conn is an open SMTP session with one host.
type conn struct {
	c    *gosmtp.Client
	host string
	tls  bool
	// tlsVerified is set by the TLS setup when the certificate was
	// verified under MTA-STS enforce, DANE (Verify) or a verified
	// smarthost; only then may a REQUIRETLS message go this way (RFC
	// 8689 4.1).
	tlsVerified bool
	// tlsNote says how the session used TLS, for the attempt's record.
	tlsNote string
	broken  bool // a non-SMTP error: do not use again
	stop    func() bool
}

// dial opens a session with host as plan (securityPlan) says: TLS where
// the host's policy asks for it, or opportunistic STARTTLS (RFC 3207,
// RFC 7435) that goes on in the clear when the server offers no
// STARTTLS. When an opportunistic TLS handshake fails, the same host is
// tried again at once in plaintext, as Postfix's "may" level does: a
// receiver with a broken TLS stack would otherwise get no mail at all,
// and without a policy plaintext is what a man in the middle could force
// anyway. With a policy (MTA-STS enforce, DANE, a smarthost with TLS) a
// TLS failure is an error: the next host, or a deferral.
func (r *Runner) dial(ctx context.Context, rt *route, host string) (*conn, error) {
	plan, err := r.securityPlan(ctx, rt, host)
	if err != nil {
		return nil, err
	}
	c, err := r.connect(ctx, host, rt.port, plan)
	var he *handshakeError
	if err != nil && errors.As(err, &he) && !plan.require && ctx.Err() == nil {
		r.log.Info("relay: STARTTLS handshake failed, retrying in plaintext", "remote", host, "err", he.err)
		if plan.testing != nil {
			plan.testing(fmt.Errorf("STARTTLS handshake failed: %w", he.err))
		}
		plain := tlsPlan{skipTLS: true, note: "none: STARTTLS failed (" + he.err.Error() + "); retried in plaintext"}
		c, err = r.connect(ctx, host, rt.port, plain)
	}
	return c, err
}

// connect connects to host:port and says EHLO, with TLS as plan says,
// and logs in when plan says so.
func (r *Runner) connect(ctx context.Context, host, port string, plan tlsPlan) (*conn, error) {
	raw, err := r.opts.Dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	nc := &boundedConn{Conn: raw, writeTimeout: r.opts.CommandTimeout}
	// go-smtp's client knows no context: closing the connection is how
	// shutdown interrupts a slow remote.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	var c *gosmtp.Client
	var st tlsState
	if plan.implicit {
		c, st, err = r.implicitTLS(nc, host, plan)
	} else {
		c, st, err = r.handshake(nc, host, plan)
	}
	if err != nil {
		stop()
		nc.Close()
		return nil, err
	}
	c.CommandTimeout = r.opts.CommandTimeout
	c.SubmissionTimeout = r.opts.DataTimeout
	if err := c.Hello(r.opts.Hostname); err != nil {
		stop()
		c.Close()
		return nil, err
	}
	cn := &conn{c: c, host: host, tls: st.used, tlsVerified: st.used && plan.verified, tlsNote: st.note, stop: stop}
	if plan.auth {
		if err := r.login(cn); err != nil {
			cn.broken = true
			cn.close()
			return nil, err
		}
	}
	return cn, nil
}

// tlsState is how a session's handshake went.
type tlsState struct {
	used bool
	note string
}

// handshakeError is a failed TLS handshake after STARTTLS: the one
// failure after which an opportunistic session is retried in plaintext.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// implicitTLS does the TLS handshake at once (RFC 8314 3), for a
// smarthost on a submissions port.
func (r *Runner) implicitTLS(nc net.Conn, host string, plan tlsPlan) (*gosmtp.Client, tlsState, error) {
	tc := tls.Client(nc, plan.tlsConfig(r.opts.TLS, host))
	nc.SetDeadline(time.Now().Add(r.opts.CommandTimeout))
	err := tc.Handshake()
	nc.SetDeadline(time.Time{})
	if err != nil {
		return nil, tlsState{}, fmt.Errorf("TLS handshake: %w", err)
	}
	return gosmtp.NewClient(tc), tlsState{used: true, note: plan.describe(tc.ConnectionState())}, nil
}

// handshake reads the greeting and does the first EHLO and STARTTLS
// itself, because go-smtp's client can only start TLS after an EHLO as
// "localhost" and fails when STARTTLS is not offered. It returns a client
// over the (possibly TLS) connection that replays the greeting, so that
// the client's own EHLO comes next.
func (r *Runner) handshake(nc net.Conn, host string, plan tlsPlan) (*gosmtp.Client, tlsState, error) {
	nc.SetDeadline(time.Now().Add(r.opts.CommandTimeout))
	defer nc.SetDeadline(time.Time{})
	br := bufio.NewReader(nc)
	tp := textproto.NewConn(struct {
		io.Reader
		io.WriteCloser
	}{br, nc})
	_, greeting, err := tp.ReadResponse(220)
	if err != nil {
		err = protoErr(err)
		if se := refusal(err); se != nil {
			return nil, tlsState{}, &greetingRefusal{se: se}
		}
		return nil, tlsState{}, err
	}
	greetLine := "220 " + strings.ReplaceAll(greeting, "\n", " ") + "\r\n"
	replay := func(c net.Conn, rd io.Reader) *gosmtp.Client {
		return gosmtp.NewClient(&replayConn{Conn: c, r: io.MultiReader(strings.NewReader(greetLine), rd)})
	}
	if plan.skipTLS {
		return replay(nc, br), tlsState{note: plan.note}, nil
	}
	// plain goes on without TLS, unless the plan requires it.
	plain := func(why string) (*gosmtp.Client, tlsState, error) {
		if plan.require {
			return nil, tlsState{}, fmt.Errorf("%s, but %s requires TLS", why, plan.why)
		}
		if plan.testing != nil {
			plan.testing(errors.New(why))
		}
		return replay(nc, br), tlsState{note: "none: " + why}, nil
	}
	if err := tp.PrintfLine("EHLO %s", r.opts.Hostname); err != nil {
		return nil, tlsState{}, err
	}
	_, ehlo, err := tp.ReadResponse(250)
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			// An old server without EHLO: go-smtp falls back to HELO.
			return plain("EHLO refused")
		}
		return nil, tlsState{}, err
	}
	if !hasExtension(ehlo, "STARTTLS") {
		return plain("STARTTLS not offered")
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, tlsState{}, err
	}
	if _, msg, err := tp.ReadResponse(220); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			// Offered but refused (454 TLS not available): go on in the
			// clear, as without the offer.
			return plain(fmt.Sprintf("STARTTLS refused (%d %s)", te.Code, strings.Join(strings.Fields(msg), " ")))
		}
		return nil, tlsState{}, err
	}
	if br.Buffered() > 0 {
		// Anything sent before the TLS handshake could be injected by a
		// man in the middle (the STARTTLS command injection of CVE-2011-0411).
		return nil, tlsState{}, errors.New("STARTTLS: data after the 220 reply")
	}
	tc := tls.Client(nc, plan.tlsConfig(r.opts.TLS, host))
	if err := tc.Handshake(); err != nil {
		return nil, tlsState{}, &handshakeError{err: err}
	}
	cs := tc.ConnectionState()
	if plan.testing != nil && plan.check != nil {
		if err := plan.check(cs); err != nil {
			plan.testing(err)
		}
	}
	return replay(tc, tc), tlsState{used: true, note: plan.describe(cs)}, nil
}

// replayConn reads from r (the replayed greeting, then the connection).
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// maxReplyBytes bounds what a remote may send between two writes of
// ours: one reply, however many lines. RFC 5321 4.5.3.1.5 allows 512
// octets a line; an EHLO reply or a TLS handshake (which this counts
// too, below TLS) is a few KiB.
const maxReplyBytes = 1 << 20

var errReplyTooLong = fmt.Errorf("the remote sent more than %d bytes without being asked", maxReplyBytes)

// boundedConn is a remote's connection with the bounds go-smtp's client
// lacks: its reads of a reply grow without limit until the command
// timeout (a line that never ends, or endless lines), and it sets no
// deadline while it writes the message, so that a receiver that stops
// reading would hold the session, and its messages' leases, for ever.
type boundedConn struct {
	net.Conn
	// writeTimeout bounds each write (RFC 5321 4.5.3.2.5 gives a data
	// block 3 minutes).
	writeTimeout time.Duration
	unasked      int // bytes read since the last write
}

func (c *boundedConn) Read(p []byte) (int, error) {
	if c.unasked >= maxReplyBytes {
		return 0, errReplyTooLong
	}
	n, err := c.Conn.Read(p[:min(len(p), maxReplyBytes-c.unasked)])
	c.unasked += n
	return n, err
}

func (c *boundedConn) Write(p []byte) (int, error) {
	c.unasked = 0
	c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	return c.Conn.Write(p)
}

// hasExtension reports whether an EHLO reply's text offers ext.
func hasExtension(ehlo, ext string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

func protoErr(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		code := te.Code
		msg := te.Msg
		se := &gosmtp.SMTPError{Code: code, Message: msg}
		// Parse "5.1.1 text" like go-smtp's client does.
		if f, rest, ok := strings.Cut(msg, " "); ok {
			var a, b, c int
			if n, _ := fmt.Sscanf(f, "%d.%d.%d", &a, &b, &c); n == 3 {
				se.EnhancedCode = gosmtp.EnhancedCode{a, b, c}
				se.Message = rest
			}
		}
		return se
	}
	return err
}

func (c *conn) close() {
	if c == nil {
		return
	}
	if !c.broken {
		c.c.Quit()
	}
	c.c.Close()
	c.stop()
}

// send runs one mail transaction for recipients that share a message:
// one reply per recipient, or a transaction error (the connection or the
// MAIL command failed) that applies to them all. A message that needs
// SMTPUTF8 fails permanently on a server that lacks it (RFC 6531 3.4).
// The envelope's DSN parameters go along when the server offers DSN.
//
// The message goes out as CRLF lines, dot-stuffed by go-smtp's DATA
// writer (RFC 5321 4.5.2), whatever line endings it was stored with.
func (c *conn) send(env *envelope, data []byte) ([]reply, error) {
	from, rcpts := env.from, env.rcpts
	data = crlfLines(data)
	if env.utf8 {
		if ok, _ := c.c.Extension("SMTPUTF8"); !ok {
			return nil, &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 6, 7},
				Message: "the receiving server does not support SMTPUTF8, which the addresses need"}
		}
	}
	mo := env.mail
	mo.Size, mo.UTF8 = int64(len(data)), env.utf8
	if err := c.c.Mail(from, &mo); err != nil {
		c.fail(err)
		return nil, err
	}
	out := make([]reply, len(rcpts))
	var accepted []int
	for i, rcpt := range rcpts {
		if err := c.c.Rcpt(rcpt, env.opts[i]); err != nil {
			if c.fail(err) {
				return nil, err
			}
			out[i] = errReply(err, c.host)
			continue
		}
		accepted = append(accepted, i)
	}
	if len(accepted) == 0 {
		if err := c.c.Reset(); err != nil {
			c.fail(err)
		}
		c.mark(out)
		return out, nil
	}
	final := c.data(data)
	if c.fail(final.err) {
		return nil, final.err
	}
	for _, i := range accepted {
		if final.err != nil {
			out[i] = errReply(final.err, c.host)
		} else {
			out[i] = reply{code: 250, text: final.text, remote: c.host}
		}
	}
	c.mark(out)
	return out, nil
}

// markOne notes on a reply made for this session (a refusal, a failed
// transaction) how the session used TLS, for the attempt's record.
func (c *conn) markOne(rp *reply) {
	rp.tls, rp.tlsNote = c.tls, c.tlsNote
}

// mark notes on replies how the session used TLS, and whether the
// remote offered DSN.
func (c *conn) mark(out []reply) {
	dsn := c.offers("DSN")
	for i := range out {
		c.markOne(&out[i])
		out[i].dsn = dsn
	}
}

type dataResult struct {
	text string
	err  error
}

func (c *conn) data(data []byte) dataResult {
	w, err := c.c.Data()
	if err != nil {
		return dataResult{err: err}
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return dataResult{err: err}
	}
	resp, err := w.CloseWithResponse()
	var se *gosmtp.SMTPError
	if errors.As(err, &se) && se.Code/100 == 2 {
		// go-smtp wants exactly 250 after the data; any 2xx there is the
		// message accepted, and taking it for a failure would send it
		// again.
		return dataResult{text: se.Message}
	}
	if err != nil {
		return dataResult{err: err}
	}
	return dataResult{text: resp.StatusText}
}

// fail marks the connection broken when err is not an SMTP reply, and
// reports whether it did.
func (c *conn) fail(err error) bool {
	if err == nil || refusal(err) != nil {
		return false
	}
	c.broken = true
	return true
}
