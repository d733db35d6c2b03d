package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"pillarbox/mailbox"
	"pillarbox/mailbox/netlimit"
	"pillarbox/smtp"
	"pillarbox/store"
)

// shutdownGrace bounds how long SIGTERM waits for messages in transfer.
const shutdownGrace = 30 * time.Second

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := commandFlags("serve")
	if _, err := parseCommand(fs, args, 0, "pillarbox serve [--config FILE]"); err != nil {
		return err
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, e, newLogger(cfg.LogFormat, e.stderr))
}

// server is a protocol server with net/http's lifecycle.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	// Refusal is what a connection over a cap is told before it is
	// closed.
	Refusal() []byte
}

// listenerSpec is one listener serve opens; addr "" disables it.
type listenerSpec struct {
	name        string
	addr        string
	implicitTLS bool // wrap the listener in TLS (RFC 8314)
	srv         server
}

// worker is a background loop that runs until its context ends.
type worker func(ctx context.Context) error

// wiring is what the parts of serve are built from.
type wiring struct {
	cfg *Config
	db  store.Store
	svc *mailbox.Service
	tls *tls.Config
	log *slog.Logger
	// throttle gates password checks per client address and per account,
	// shared by every listener that takes passwords (IMAP and
	// submission), so that connections and protocols add no guesses.
	throttle *mailbox.Throttle
	// notices builds the success notices of local delivery (DSN); set
	// by relayParts, the relay's Runner.
	notices smtp.Notices
	// messageRate is every client address's per-minute message budget,
	// shared by the MX and submission.
	messageRate *netlimit.Rate
	// metrics is serve's Prometheus registry and the hooks that feed it.
	metrics *metrics
}

func serve(ctx context.Context, cfg *Config, e *env, log *slog.Logger) error {
	// SIGHUP reloads the certificate files (a certbot deploy hook); not
	// caught, its default action would end the server (exit 129). It is
	// caught from the start, and one that comes early is handled once the
	// certificate is loaded.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Everything that can be found wrong is found before the database is
	// created or a password printed.
	listeners, err := preflight(cfg)
	if err != nil {
		return err
	}
	// Those a server took are closed again harmlessly.
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}()
	caps, err := listenerCaps(configListeners(cfg), cfg, log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	m := newMetrics()
	db, err := openStore(ctx, cfg, storeHooks{log: log, observeCommit: m.observeCommit})
	if err != nil {
		return err
	}
	defer db.Close()
	m.watchStore(db)
	quota, err := cfg.defaultQuota()
	if err != nil {
		return err
	}
	svc, err := mailbox.New(db, mailbox.Options{Domains: cfg.Domains, Logger: log, NoSentCopy: !cfg.Submission.SaveSent,
		HistoryKeep: cfg.historyKeep(), OnDelivered: m.deliveredLocal, DefaultQuota: quota})
	if err != nil {
		return err
	}
	if err := ensurePostmaster(ctx, svc, cfg, e); err != nil {
		return err
	}
	certs, err := serverCertificate(cfg, log)
	if err != nil {
		return err
	}
	var workers []worker
	getCert, reload := certs.GetCertificate, certs.Reload
	var ac *acmeCerts
	if cfg.TLS.ACME {
		// The self-signed certificate stays, for the hostname until the
		// CA's first one comes.
		if ac, err = newACMECerts(cfg, svc.IsLocalDomain, certs.GetCertificate, log); err != nil {
			return err
		}
		getCert, reload = ac.GetCertificate, ac.Reload
		workers = append(workers, ac.worker)
	}
	tlsConf := serverTLSConfig(getCert)

	w := &wiring{cfg: cfg, db: db, svc: svc, tls: tlsConf, log: log,
		throttle: mailbox.NewThrottle(mailbox.ThrottleOptions{}), messageRate: cfg.messageRate(), metrics: m}
	imapSpecs, err := imapListeners(w)
	if err != nil {
		return err
	}
	relaySpecs, relayWorkers, err := relayParts(w)
	if err != nil {
		return err
	}
	workers = append(workers, relayWorkers...)
	mxOpts := w.smtpOptions(w.notices, m.smtpMX())
	mxOpts.PrimaryDomain = cfg.Domains[0]
	mxOpts.Inbound = inbound(cfg)
	mx := smtp.NewMX(svc, mxOpts)
	specs := append([]listenerSpec{{name: "smtp", addr: cfg.SMTP.Listen, srv: mx}}, imapSpecs...)
	specs = append(specs, relaySpecs...)
	specs = append(specs, httpListeners(w, ac)...)
	specs = append(specs, listenerSpec{name: "admin", addr: cfg.Admin.Listen, srv: newAdminServer(m, db.CheckWritable, nil, log)})
	// Deleting an account or changing its password with the CLI, in
	// another process, ends the account's sessions here within a second.
	workers = append(workers, func(ctx context.Context) error { return svc.WatchAccounts(ctx, time.Second) }, dkimWorker(w),
		reloadOnSignal(reload, hup), historyWorker(w), vanishedWorker(w), headersWorker(w))

	var running []server
	errc := make(chan error, len(specs)+len(workers))
	// One cap over every listener.
	total := netlimit.NewTotal(caps.total)
	startErr := func() error {
		for _, sp := range specs {
			if sp.addr == "" {
				continue
			}
			ln, ok := listeners[sp.name]
			if !ok {
				var err error
				if ln, err = net.Listen("tcp", sp.addr); err != nil {
					return fmt.Errorf("%s: %w", sp.name, err)
				}
			}
			// The caps are checked beneath TLS, so that a refused client
			// costs no handshake; on implicit TLS it cannot read a plain
			// refusal either, and is closed without one.
			refusal := sp.srv.Refusal()
			if sp.implicitTLS {
				refusal = nil
			}
			ln = m.countConns(sp.name, netlimit.NewListener(ln, netlimit.Options{MaxConns: caps.max, MaxConnsPerIP: caps.perIP,
				Total: total, ConnRate: cfg.connRate(), Refusal: refusal, Logger: log, Refused: m.refusedConns(sp.name)}))
			if sp.implicitTLS {
				ln = tls.NewListener(ln, tlsConf)
			}
			running = append(running, sp.srv)
			log.Info("listening", "service", sp.name, "addr", ln.Addr().String())
			go func() {
				if err := sp.srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
					errc <- fmt.Errorf("%s: %w", sp.name, err)
				}
			}()
		}
		return nil
	}()
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if startErr == nil {
		for _, wk := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := wk(wctx); err != nil && !errors.Is(err, context.Canceled) {
					errc <- err
				}
			}()
		}
		log.Info("pillarbox ready", "hostname", cfg.Hostname, "data_dir", cfg.DataDir, "domains", cfg.Domains)
		select {
		case <-ctx.Done():
			log.Info("shutting down")
		case startErr = <-errc:
			log.Error("server failed", "err", startErr)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, s := range running {
		if err := s.Shutdown(sctx); err != nil {
			log.Warn("shutdown", "err", err)
		}
	}
	stopWorkers()
	wg.Wait()
	if err := db.Close(); err != nil {
		return err
	}
	log.Info("stopped")
	return startErr
}

// smtpOptions are the options the MX and submission share: the limits,
// TLS, the log and the per-client message rate, with the notices that
// local delivery sends and the counters of the listener.
func (w *wiring) smtpOptions(notices smtp.Notices, metrics smtp.Metrics) smtp.Options {
	cfg := w.cfg
	return smtp.Options{
		Hostname:        cfg.Hostname,
		MaxMessageBytes: cfg.SMTP.MaxMessageBytes,
		MaxRecipients:   cfg.SMTP.MaxRecipients,
		TLS:             w.tls,
		Logger:          w.log,
		Notices:         notices,
		MessageRate:     w.messageRate,
		ReadTimeout:     cfg.Limits.SMTPCommandTimeout.Duration,
		DataTimeout:     cfg.Limits.SMTPDataTimeout.Duration,
		Metrics:         metrics,
	}
}

// listenerCaps returns the connection caps of each listener in specs
// that is on, within the process's descriptor limit.
func listenerCaps(specs []listenerSpec, cfg *Config, log *slog.Logger) (connCaps, error) {
	n := 0
	for _, sp := range specs {
		if sp.addr != "" {
			n++
		}
	}
	nofile, err := openFileLimit()
	if err != nil {
		return connCaps{}, err
	}
	caps, err := connectionCaps(cfg, nofile, n)
	if err != nil {
		return connCaps{}, fmt.Errorf("config: %w", err)
	}
	log.Info("connection limits", "per_listener", caps.max, "per_ip", caps.perIP, "total", caps.total, "listeners", n, "nofile", nofile,
		"connections_per_minute", cmp.Or(cfg.Limits.ConnectionsPerMinute, defaultConnectionsPerMinute),
		"messages_per_minute", cmp.Or(cfg.Limits.MessagesPerMinute, defaultMessagesPerMinute), "rate_exempt", cfg.Limits.RateExempt)
	return caps, nil
}

// ensurePostmaster gives each domain of the config that is not yet in
// the database its DKIM keys and its postmaster@ account (RFC 5321
// 4.5.1), so that mail to postmaster has somewhere to go, and prints the
// password and the DKIM records to publish once.
func ensurePostmaster(ctx context.Context, svc *mailbox.Service, cfg *Config, e *env) error {
	added, err := svc.EnsureDomains(ctx, cfg.Domains)
	for _, a := range added {
		if perr := printDomainAdded(e.stdout, a); perr != nil {
			return perr
		}
	}
	if err != nil {
		return fmt.Errorf("adding the config's domains: %w", err)
	}
	return nil
}
