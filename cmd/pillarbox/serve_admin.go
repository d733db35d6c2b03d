package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthTimeout bounds /healthz's write: a store that cannot commit one
// small row within it is not healthy, whatever it would say later.
const healthTimeout = 5 * time.Second

// adminServer is the operator's HTTP listener ([admin] listen, on
// loopback by default): Prometheus's /metrics and /healthz, and nothing
// else. It has the other servers' lifecycle (the server interface).
type adminServer struct {
	srv *http.Server
}

// newAdminServer serves m's registry and a health check that commits a
// write to the store (checkWritable, store.Store.CheckWritable in serve).
//
// now is the clock of /healthz's reuse of a fresh result (nil:
// time.Now).
func newAdminServer(m *metrics, checkWritable func(context.Context) error, now func() time.Time, log *slog.Logger) *adminServer {
	mux := http.NewServeMux()
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: errLog,
		// A store query that fails leaves out its own metrics, and the
		// rest are still served.
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       2 * storeScrapeTimeout,
	}))
	h := &health{check: checkWritable, timeout: healthTimeout, now: now}
	mux.HandleFunc("GET /healthz", h.serveHTTP)
	return &adminServer{srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          errLog,
	}}
}

// Serve serves ln until Shutdown; it returns nil then, as the other
// servers' Serve returns smtp.ErrServerClosed.
func (a *adminServer) Serve(ln net.Listener) error {
	if err := a.srv.Serve(keepAliveListener{ln}); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// Shutdown stops accepting and waits for the requests in flight.
func (a *adminServer) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }

// Refusal is what a connection over the listener's caps gets.
func (a *adminServer) Refusal() []byte { return httpRefusal }

// health answers /healthz: 200 "ok" once a write to the store has
// committed, 503 with the error otherwise. One check runs at a time,
// whoever asks: a store stuck on a lock would otherwise collect a check
// per request, each holding a goroutine until the lock's busy timeout.
type health struct {
	check   func(context.Context) error
	timeout time.Duration

	// now is the clock of reuse. Zero: time.Now.
	now func() time.Time

	mu      sync.Mutex
	running *healthRun // the check in flight, or nil
	last    *healthRun // the last check that ended, reused for healthFresh
	lastAt  time.Time
}

// healthFresh is how long a check's result answers the requests after
// it: each check commits a write, and requests one after another must
// not become a write and an fsync each.
const healthFresh = time.Second

// healthRun is one check; err is set before done is closed.
type healthRun struct {
	done chan struct{}
	err  error
}

// run joins the check in flight, or starts one, and waits for it up to
// the timeout.
func (h *health) run(ctx context.Context) error {
	now := time.Now
	if h.now != nil {
		now = h.now
	}
	h.mu.Lock()
	r := h.running
	if r == nil && h.last != nil && now().Sub(h.lastAt) < healthFresh {
		r = h.last
	}
	if r == nil {
		r = &healthRun{done: make(chan struct{})}
		h.running = r
		go func() {
			cctx, cancel := context.WithTimeout(context.Background(), h.timeout)
			r.err = h.check(cctx)
			cancel()
			h.mu.Lock()
			h.running, h.last, h.lastAt = nil, r, now()
			h.mu.Unlock()
			close(r.done)
		}()
	}
	h.mu.Unlock()
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case <-r.done:
		return r.err
	case <-t.C:
		return fmt.Errorf("no write committed within %s", h.timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *health) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.run(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "store not writable: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
}
