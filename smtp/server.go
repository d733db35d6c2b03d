// Package smtp holds Pillarbox's SMTP servers on go-smtp: the inbound MX
// listener that accepts mail for local recipients only, and the
// submission listener (AUTH, sender ownership) that accepts mail from
// local users for anyone, with their limits, trace headers and the
// mapping of delivery errors to SMTP replies.
package smtp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
	"pillarbox/mailbox/netlimit"
)

// Mailboxes is what the MX needs from the mail store.
type Mailboxes interface {
	Resolve(ctx context.Context, a mailbox.Address) (mailbox.Recipient, error)
	Deliver(ctx context.Context, d *mailbox.Delivery) (mailbox.Delivered, error)
	IsLocalDomain(domain string) bool
	// CheckQuota fails with a *mailbox.QuotaError if a message of size
	// octets (0: unknown) would not fit in one of the accounts now.
	CheckQuota(ctx context.Context, accounts []int64, size int64) error
}

// Options configures a Server. Zero values are documented per field.
type Options struct {
	// Hostname is announced in the greeting and in Received headers.
	// Zero: "localhost".
	Hostname string
	// MaxMessageBytes limits a message's size (SIZE). Zero: 25 MiB.
	MaxMessageBytes int64
	// MaxRecipients limits RCPT commands per transaction. Zero: 100.
	MaxRecipients int
	// TLS enables STARTTLS. Zero: no STARTTLS.
	TLS *tls.Config
	// ReadTimeout bounds the wait for each command line, counted from
	// the start of the wait, so that a line trickled in without its CRLF
	// cannot extend it. When it passes, the client gets 421 4.4.2 and the
	// connection is closed, for good (before the first EHLO, go-smtp
	// first answers a line that came without its CRLF). Zero: 10 min,
	// RFC 5321 4.5.3.2.6's DATA termination timeout.
	ReadTimeout time.Duration
	// DataTimeout bounds a whole message transfer, from the 354 that
	// answers DATA (or from the first BDAT chunk) to its last byte,
	// however slowly the client sends; the client then gets 421 4.4.2,
	// nothing is delivered and the connection is closed. Zero: 10 min,
	// enough for 25 MiB at 350 kbit/s.
	DataTimeout time.Duration
	// Inbound is what the MX checks of each message's sender and does
	// with the verdict. Zero: no checks.
	Inbound Inbound
	// WriteTimeout bounds each reply. Zero: 1 min.
	WriteTimeout time.Duration
	// Logger gets one line per accepted message. Zero: slog.Default().
	Logger *slog.Logger
	// Now is the clock for Received headers. Zero: time.Now.
	Now func() time.Time
	// PrimaryDomain is the domain whose postmaster gets mail sent to
	// <postmaster> without a domain (RFC 5321 4.5.1): RCPT TO:<postmaster>
	// names postmaster@PrimaryDomain. It is normalised like any domain
	// (mailbox.NormalizeDomain); one that is not valid is logged and
	// ignored. Zero: such a recipient gets go-smtp's 501.
	PrimaryDomain string
	// MessageRate limits how many transactions (MAIL commands) a client
	// address may start a minute; one over it gets 450 4.7.0. Share one
	// between the MX and submission to count a client's messages on both.
	// Nil: no limit.
	MessageRate *netlimit.Rate
	// Notices builds the "delivered" notice that NOTIFY=SUCCESS asks for
	// when a message is delivered to local mailboxes (RFC 3461 4.1).
	// Zero: none is sent; the DSN extension is still offered, and its
	// parameters for remote recipients still go to the queue.
	Notices Notices
	// Metrics counts messages received, refusals by reason and, on
	// submission, logins. Zero: nothing is counted.
	Metrics Metrics
}

// maxLineLength is the longest command or message line accepted.
const maxLineLength = 64 << 10

// Server is an SMTP server: the inbound MX (NewMX), which never relays,
// or submission (NewSubmission).
type Server struct {
	mb   Mailboxes
	opts Options
	srv  *gosmtp.Server
	log  *slog.Logger
	// down ends at Shutdown or Close, and with it the login throttle's
	// waits.
	down     context.Context
	goneDown context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners []net.Listener
	inflight  sync.WaitGroup // sessions inside Data
}

// NewMX returns an MX server delivering into mb.
func NewMX(mb Mailboxes, opts Options) *Server {
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = 25 << 20
	}
	if opts.MaxRecipients == 0 {
		opts.MaxRecipients = 100
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 10 * time.Minute
	}
	if opts.DataTimeout == 0 {
		opts.DataTimeout = 10 * time.Minute
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = nopMetrics{}
	}
	if opts.PrimaryDomain != "" {
		d, err := mailbox.NormalizeDomain(opts.PrimaryDomain)
		if err != nil {
			opts.Logger.Error("smtp: primary domain ignored: mail to <postmaster> is refused", "domain", opts.PrimaryDomain, "err", err)
		}
		opts.PrimaryDomain = d
	}
	s := &Server{mb: mb, opts: opts, log: opts.Logger}
	s.down, s.goneDown = context.WithCancel(context.Background())
	srv := gosmtp.NewServer(gosmtp.BackendFunc(s.newSession))
	srv.Domain = opts.Hostname
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = opts.MaxRecipients
	// RFC 5321 4.5.3.1.6 sets 1000 octets, but real mailers exceed it and
	// refusing their mail helps nobody; refuse only absurd lines.
	srv.MaxLineLength = maxLineLength
	srv.ReadTimeout = opts.ReadTimeout
	srv.WriteTimeout = opts.WriteTimeout
	srv.EnableSMTPUTF8 = true
	enableEnvelopeExtensions(srv)
	srv.TLSConfig = opts.TLS
	srv.ErrorLog = slogAdapter{opts.Logger}
	s.srv = srv
	if !wireSupported() {
		opts.Logger.Warn("smtp: go-smtp's connection layout is not the expected one: DATA keeps go-smtp's framing " +
			"(bare CR and LF are still refused), SIZE above 4 GiB gets 501, the EHLO reply does not start with the " +
			"server's name and RCPT TO:<postmaster> gets 501 (see wire.go)")
	}
	return s
}

// Serve accepts connections on ln until Shutdown or Close. It returns
// ErrServerClosed after a Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	// Final read timeouts (see limits.go) need a netlimit.Conn beneath
	// go-smtp; serve.go puts one beneath TLS for implicit TLS, whose
	// handshakes are done, and bounded, before go-smtp gets them.
	hl := newHandshakeListener(ln)
	defer hl.Close() // however Serve ends, no handshake is left waiting
	err := s.srv.Serve(netlimit.GuardListener(hl))
	if s.isClosing() || errors.Is(err, gosmtp.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("smtp: server closed")

// Shutdown stops accepting connections and new transactions, waits until
// every message already in DATA has been answered (so nothing is cut off
// between its commit and its 250), then closes the remaining connections.
// If ctx ends first, connections are closed at once; a message whose
// commit had not finished then gets no 250, and its sender retries.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	lns := s.listeners
	s.mu.Unlock()
	s.goneDown()
	// go-smtp's own Shutdown waits for idle connections too, and after it
	// its Close no longer closes them: close the listeners here and let
	// Close end every connection once no DATA is in flight.
	for _, ln := range lns {
		ln.Close()
	}
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.srv.Close()
	return ctx.Err()
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.goneDown()
	err := s.srv.Close()
	if errors.Is(err, gosmtp.ErrServerClosed) {
		return nil
	}
	return err
}

// beginData registers a message transfer unless the server is closing.
func (s *Server) beginData() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.inflight.Add(1)
	return true
}

// dataMark is a session's share of the server's in-flight count: set from
// the start of DATA until go-smtp resets the session, which it does only
// after writing the reply (or until the connection is gone). Shutdown
// waits for it, so that no committed message loses its 250.
type dataMark struct {
	mu sync.Mutex
	on bool
}

// begin counts the session's transfer in flight, once however many times
// it is called before end; false if the server is closing.
func (m *dataMark) begin(srv *Server) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.on {
		if !srv.beginData() {
			return false
		}
		m.on = true
	}
	return true
}

// end releases what begin counted, if anything.
func (m *dataMark) end(srv *Server) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.on {
		m.on = false
		srv.inflight.Done()
	}
}

func (s *Server) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	s.closeOnTimeout(c, s.idleReply())
	return &session{srv: s, conn: c, wire: s.installWire(c)}, nil
}

// newID returns a short random id that names one SMTP transaction in the
// Received header and in the log.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])[:12]
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.l.Warn("smtp: server error", "msg", fmt.Sprintf(format, v...))
}
func (a slogAdapter) Println(v ...any) { a.l.Warn("smtp: server error", "msg", fmt.Sprint(v...)) }
