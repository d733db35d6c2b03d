// Package imap serves Pillarbox's mailboxes over IMAP (RFC 9051, with
// IMAP4rev1 clients too) with its own protocol layer: package wire reads
// commands and writes responses, the sessions here run them over the
// mailbox package, and one box per selected mailbox, fed by the mailbox
// change feed, tells every session of every other session's and SMTP
// delivery's changes. go-imap's imap package is the vocabulary (flags,
// number sets, search criteria, fetch options).
package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

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
	// the store's snapshot pool (sqlite.Options.Readers) while it runs:
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
	// ownsStore: every commit to the store is this node's, announced to
	// the trackers, so that a box's kept rows are the stored ones
	// (rowcache.go).
	ownsStore bool
	log       *slog.Logger
	hub       *hub
	// down ends at Shutdown, and with it the throttle's waits.
	down     context.Context
	goneDown context.CancelFunc

	// searches holds a token for each SEARCH running (Options.MaxSearches).
	searches chan struct{}
	// searchHook, if set, runs inside each search once it has its turn
	// and its snapshot. For tests.
	searchHook func()

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
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
		svc:       svc,
		opts:      opts,
		ownsStore: svc.OwnsStore(),
		searches:  make(chan struct{}, opts.MaxSearches),
		log:       opts.Logger,
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.down, s.goneDown = context.WithCancel(context.Background())
	s.hub = newHub(svc, s.log)
	s.hub.ownsStore = s.ownsStore
	svc.AddListener(s.hub)
	return s
}

// onLogin calls Options.OnLogin, if set.
func (s *Server) onLogin(o mailbox.LoginOutcome) {
	if s.opts.OnLogin != nil {
		s.opts.OnLogin(o)
	}
}

// Serve accepts connections on ln until Shutdown, and then returns nil.
// On a listener bound to a loopback address passwords may be sent without
// TLS.
func (s *Server) Serve(ln net.Listener) error {
	loopback := false
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		loopback = a.IP.IsLoopback()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	// Final read timeouts need a netlimit.Conn beneath TLS; serve.go puts
	// one there for its listeners, this for any other.
	gl := netlimit.GuardListener(ln)
	var backoff time.Duration
	for {
		c, err := gl.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("imap: accept: %w", err)
		}
		backoff = 0
		go s.serveConn(c, loopback)
	}
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
	var errs []error
	for ln := range s.listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
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
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("imap: shutdown: %w", err)
	}
	return ctx.Err()
}
