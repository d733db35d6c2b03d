// Package imap serves Pillarbox's mailboxes over IMAP (RFC 9051, with
// IMAP4rev1 clients too) on go-imap's imapserver: one imapserver per
// listener, sessions over the mailbox package, and one MailboxTracker per
// open mailbox fed by the mailbox change feed, so that every session sees
// every other session's and SMTP delivery's changes.
package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"pillarbox/mailbox"
	"pillarbox/mailbox/netlimit"
)

// Options configures a Server. Zero values are documented per field.
type Options struct {
	// TLS enables STARTTLS, and is what an implicit-TLS listener was made
	// with. Zero: no STARTTLS.
	TLS *tls.Config
	// AppendLimit is the largest message APPEND accepts, in octets
	// (APPENDLIMIT, RFC 7889). Zero: 25 MiB.
	AppendLimit int64
	// Throttle limits password guessing; share one with submission. Zero:
	// a new one with its defaults.
	Throttle *mailbox.Throttle
	// SearchTimeout bounds the time of one SEARCH command, waiting for its
	// turn included; past it the search stops and the client gets NO
	// [LIMIT]. Zero: 10 s.
	SearchTimeout time.Duration
	// MaxSearches is how many SEARCH commands run at once, over all
	// connections; others wait for their turn. A search holds a reader of
	// the store's snapshot pool (store.Options.Readers) while it runs:
	// keep this below that size, so that other commands still find one.
	// Zero: 4.
	MaxSearches int
	// Logger gets errors and one line per login. Zero: slog.Default().
	Logger *slog.Logger
	// OnLogin, if set, is told how each login attempt (LOGIN or
	// AUTHENTICATE) ended. For metrics: it runs on the connection's
	// goroutine and must be quick. Zero: nothing is told.
	OnLogin func(mailbox.LoginOutcome)
	// Debug, if not nil, receives the raw protocol of every connection,
	// passwords included. For tests only.
	Debug io.Writer
}

// Server serves IMAP on any number of listeners. On a listener bound to
// a loopback address, LOGIN and AUTHENTICATE work without TLS; elsewhere
// they need TLS (implicit or STARTTLS), and LOGINDISABLED is advertised
// until then.
type Server struct {
	svc  *mailbox.Service
	opts Options
	log  *slog.Logger
	hub  *hub
	// down ends at Shutdown, and with it the throttle's waits.
	down     context.Context
	goneDown context.CancelFunc

	// searches holds a token for each SEARCH running (Options.MaxSearches).
	searches chan struct{}
	// searchHook, if set, runs inside each search once it has its turn
	// and its snapshot. For tests.
	searchHook func()

	mu       sync.Mutex
	closed   bool
	servers  map[*imapserver.Server]struct{}
	sessions map[*session]struct{}
}

// New returns a Server over svc and registers its change listener.
func New(svc *mailbox.Service, opts Options) *Server {
	if opts.AppendLimit <= 0 {
		opts.AppendLimit = 25 << 20
	}
	if opts.AppendLimit > 1<<32-1 {
		opts.AppendLimit = 1<<32 - 1
	}
	if opts.Throttle == nil {
		opts.Throttle = mailbox.NewThrottle(mailbox.ThrottleOptions{})
	}
	if opts.SearchTimeout <= 0 {
		opts.SearchTimeout = 10 * time.Second
	}
	if opts.MaxSearches <= 0 {
		opts.MaxSearches = 4
	}
	s := &Server{
		svc:      svc,
		opts:     opts,
		searches: make(chan struct{}, opts.MaxSearches),
		log:      opts.Logger,
		servers:  make(map[*imapserver.Server]struct{}),
		sessions: make(map[*session]struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.down, s.goneDown = context.WithCancel(context.Background())
	s.hub = newHub(svc, s.log)
	svc.AddListener(s.hub)
	if !connBuffersSupported() {
		s.log.Warn("imap: go-imap's connection layout is not the expected one: a NUL in a mailbox name gets the library's NO [SERVERBUG] (see nulguard.go)")
	}
	return s
}

// onLogin calls Options.OnLogin, if set.
func (s *Server) onLogin(o mailbox.LoginOutcome) {
	if s.opts.OnLogin != nil {
		s.opts.OnLogin(o)
	}
}

// caps are the capabilities advertised. The library derives the
// IMAP4rev1 extensions that IMAP4rev2 includes (UNSELECT, ENABLE, IDLE,
// NAMESPACE, UIDPLUS, ESEARCH, SEARCHRES, LIST-EXTENDED, LIST-STATUS,
// MOVE, STATUS=SIZE, CHILDREN) from these two; the others must be named,
// and APPENDLIMIT comes from SessionAppendLimit.
var caps = imap.CapSet{
	imap.CapIMAP4rev1:        {},
	imap.CapIMAP4rev2:        {},
	imap.CapNamespace:        {},
	imap.CapUIDPlus:          {},
	imap.CapESearch:          {},
	imap.CapSearchRes:        {},
	imap.CapListExtended:     {},
	imap.CapListStatus:       {},
	imap.CapMove:             {},
	imap.CapStatusSize:       {},
	imap.CapChildren:         {},
	imap.CapSpecialUse:       {},
	imap.CapCreateSpecialUse: {},
	imap.CapLiteralPlus:      {},
	imap.CapBinary:           {},
}

// Serve accepts connections on ln until Shutdown, and then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	loopback := false
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		loopback = a.IP.IsLoopback()
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return s.newSession(c)
		},
		Caps:         caps,
		Logger:       logAdapter{s.log},
		TLSConfig:    s.opts.TLS,
		InsecureAuth: loopback,
		DebugWriter:  s.opts.Debug,
	})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.servers[srv] = struct{}{}
	s.mu.Unlock()
	// Final read timeouts (closeOnTimeout) need a netlimit.Conn beneath
	// the library; serve.go puts one beneath TLS for implicit TLS.
	err := srv.Serve(coalescingListener{netlimit.GuardListener(ln)})
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, waits (until ctx ends) for the
// commands that change mail to finish, says BYE to every session and
// closes the connections. Calling it again does nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.goneDown()
	servers := make([]*imapserver.Server, 0, len(s.servers))
	for srv := range s.servers {
		servers = append(servers, srv)
	}
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, sess := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess.shutdown(ctx)
		}()
	}
	wg.Wait()
	var errs []error
	for _, srv := range servers {
		// Close stops the listener and the connections that are left.
		if err := srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("imap: shutdown: %w", err)
	}
	return ctx.Err()
}

// logAdapter gives the library's printf logger our slog.
type logAdapter struct{ log *slog.Logger }

func (l logAdapter) Printf(format string, args ...any) {
	msg := "imap: " + fmt.Sprintf(format, args...)
	if strings.Contains(msg, "utf7: ") || strings.Contains(msg, "bad number set") {
		// The library answers a mailbox name in invalid modified UTF-7,
		// or a number set it cannot parse, with NO [SERVERBUG] and
		// reports it here: the client's fault.
		l.log.Info(msg)
		return
	}
	if strings.Contains(msg, "connection reset by peer") || strings.Contains(msg, "broken pipe") || strings.Contains(msg, "use of closed network connection") ||
		strings.Contains(msg, "i/o timeout") {
		l.log.Info(msg) // clients that go away or stall
		return
	}
	l.log.Error(msg)
}
