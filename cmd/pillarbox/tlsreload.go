package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, a handshake looks at the
// certificate files for a change. A certbot renewal is seen within this
// time without a signal; SIGHUP reloads at once.
const certCheckInterval = 5 * time.Second

// certHolderOptions configures a certHolder.
type certHolderOptions struct {
	// CertFile and KeyFile are the PEM files (config tls.cert/tls.key).
	// Both empty: the holder serves Static and never reloads.
	CertFile, KeyFile string
	// Static is the certificate served when there are no files (the
	// self-signed default).
	Static tls.Certificate
	// Now is the clock for the change check. Nil means time.Now.
	Now func() time.Time
	// Interval is the least time between two looks at the files during
	// handshakes. Zero means certCheckInterval.
	Interval time.Duration
	// Logger receives a line for each reload and each failed one. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// certHolder is the server certificate behind tls.Config.GetCertificate,
// so that a renewed pair is used for new connections without a restart;
// sessions already in TLS keep the certificate they were given. A reload
// that fails (a half-written file, a key that does not match) keeps the
// pair in use.
type certHolder struct {
	certFile, keyFile string
	now               func() time.Time
	interval          time.Duration
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     [2]os.FileInfo // the files as they were when last read
	lastCheck time.Time
}

// newCertHolder loads the pair from the files, or holds o.Static when
// there are none. A pair that cannot be loaded at start is an error.
func newCertHolder(o certHolderOptions) (*certHolder, error) {
	h := &certHolder{certFile: o.CertFile, keyFile: o.KeyFile, now: o.Now, interval: o.Interval, log: o.Logger}
	if h.now == nil {
		h.now = time.Now
	}
	if h.interval == 0 {
		h.interval = certCheckInterval
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if (h.certFile == "") != (h.keyFile == "") {
		return nil, fmt.Errorf("tls certificate: cert and key files must be given together")
	}
	if h.certFile == "" {
		c := o.Static
		h.cert = &c
		return h, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastCheck = h.now()
	stamp, cert, err := h.load()
	if err != nil {
		return nil, err
	}
	h.stamp, h.cert = stamp, cert
	return h, nil
}

// fromFiles reports whether the holder reloads from files.
func (h *certHolder) fromFiles() bool { return h.certFile != "" }

// GetCertificate is tls.Config.GetCertificate: it returns the pair in
// use, after reloading it if the files changed since they were last read
// and the last look is at least the interval ago.
func (h *certHolder) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fromFiles() {
		if now := h.now(); now.Sub(h.lastCheck) >= h.interval {
			h.lastCheck = now
			if h.changed() {
				h.reloadLocked("files changed")
			}
		}
	}
	return h.cert, nil
}

// Reload reads the files again whatever their stamps say (SIGHUP). It
// returns the error of a failed reload; the pair in use is then kept.
func (h *certHolder) Reload(reason string) error {
	if !h.fromFiles() {
		h.log.Info("tls certificate: no cert/key files configured, nothing to reload", "reason", reason)
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastCheck = h.now()
	return h.reloadLocked(reason)
}

// changed reports whether either file differs from when it was read:
// another file (a rename or a moved symlink, as certbot does), another
// size or another modification time.
func (h *certHolder) changed() bool {
	for i, name := range []string{h.certFile, h.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			// Missing for a moment while being replaced: try again at the
			// next look rather than log an error per handshake.
			return false
		}
		old := h.stamp[i]
		if old == nil || !os.SameFile(old, fi) || old.Size() != fi.Size() || !old.ModTime().Equal(fi.ModTime()) {
			return true
		}
	}
	return false
}

// reloadLocked loads the pair and puts it in use, or logs why not and
// keeps the old one. The files' stamps are taken even when the load
// fails, so that a broken pair is reported once and read again only
// once it changes again (the other half written).
func (h *certHolder) reloadLocked(reason string) error {
	stamp, cert, err := h.load()
	if stamp[0] != nil && stamp[1] != nil {
		h.stamp = stamp
	}
	if err != nil {
		h.log.Error("tls certificate reload failed; keeping the certificate in use", "reason", reason, "err", err)
		return err
	}
	h.cert = cert
	h.log.Info("tls certificate reloaded", "reason", reason, "serial", cert.Leaf.SerialNumber.String(),
		"subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// load stats and then reads the files. Stat comes first: a file
// replaced in between is read new under an old stamp, and so read again
// at the next look, never the other way round.
func (h *certHolder) load() ([2]os.FileInfo, *tls.Certificate, error) {
	var stamp [2]os.FileInfo
	for i, name := range []string{h.certFile, h.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return stamp, nil, fmt.Errorf("tls certificate: %w", err)
		}
		stamp[i] = fi
	}
	cert, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
	if err != nil {
		return stamp, nil, fmt.Errorf("tls certificate: load %s and %s: %w", h.certFile, h.keyFile, err)
	}
	if cert.Leaf == nil { // filled in by LoadX509KeyPair since Go 1.23
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return stamp, nil, fmt.Errorf("tls certificate: %s: %w", h.certFile, err)
		}
	}
	return stamp, &cert, nil
}

// serverCertificate returns the holder of the server's certificate: the
// config's tls.cert/tls.key files, reloadable, or the self-signed one in
// data_dir, fixed.
func serverCertificate(cfg *Config, log *slog.Logger) (*certHolder, error) {
	o := certHolderOptions{CertFile: cfg.TLS.Cert, KeyFile: cfg.TLS.Key, Logger: log}
	if o.CertFile == "" {
		cert, err := loadOrCreateCert("", "", cfg.DataDir, cfg.Hostname, time.Now())
		if err != nil {
			return nil, err
		}
		o.Static = cert
	}
	h, err := newCertHolder(o)
	if err != nil {
		return nil, err
	}
	source := "self-signed in data_dir"
	if h.fromFiles() {
		source = "files (reloaded on change and on SIGHUP)"
	}
	if leaf := h.cert.Leaf; leaf != nil {
		log.Info("tls certificate", "source", source, "serial", leaf.SerialNumber.String(),
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return h, nil
}

// reloadOnSignal returns the worker that calls reload (a certHolder's or
// acmeCerts' Reload) at each value from sig (SIGHUP). A failed reload is
// logged by reload and does not stop the server.
func reloadOnSignal(reload func(reason string) error, sig <-chan os.Signal) worker {
	return func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case s := <-sig:
				_ = reload("signal " + s.String())
			}
		}
	}
}
