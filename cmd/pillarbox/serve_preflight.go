package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// configListeners names the listeners the config turns on, by the names
// serve's listener specs use, so that they can be opened before the
// servers behind them exist.
func configListeners(cfg *Config) []listenerSpec {
	var out []listenerSpec
	for _, sp := range []listenerSpec{
		{name: "smtp", addr: cfg.SMTP.Listen},
		{name: "imap", addr: cfg.IMAP.Listen},
		{name: "imaps", addr: cfg.IMAP.ListenTLS},
		{name: "submission", addr: cfg.Submission.Listen},
		{name: "submissions", addr: cfg.Submission.ListenTLS},
		{name: "http", addr: cfg.HTTP.Listen},
		{name: "https", addr: cfg.HTTPS.Listen},
		{name: "admin", addr: cfg.Admin.Listen},
	} {
		if sp.addr != "" {
			out = append(out, sp)
		}
	}
	return out
}

// preflight checks what serve can check before it creates or prints
// anything: that the certificate files load, that data_dir is a
// writable directory or can be made one, and that every listening
// address can be bound. It returns the listeners, open, by spec name:
// binding them here rather than testing and closing leaves no window for
// another process to take a port between the check and the start.
// The caller closes them.
func preflight(cfg *Config) (map[string]net.Listener, error) {
	if cfg.TLS.Cert != "" && cfg.TLS.Key != "" {
		if _, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key); err != nil {
			return nil, fmt.Errorf("tls certificate: load %s and %s: %w", cfg.TLS.Cert, cfg.TLS.Key, err)
		}
	}
	if err := checkDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if cfg.TLS.ACME {
		if err := checkACME(cfg); err != nil {
			return nil, err
		}
	}
	lns := map[string]net.Listener{}
	for _, sp := range configListeners(cfg) {
		ln, err := net.Listen("tcp", sp.addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("%s: cannot listen on %s: %w", sp.name, sp.addr, err)
		}
		lns[sp.name] = ln
	}
	return lns, nil
}

// checkDataDir reports, in one line, why dir cannot hold the data: it is
// not a directory, it is not writable, or it is missing and its parent
// is missing or not writable. serve makes dir itself, but not a chain of
// parents: a missing parent is more likely a typo than a wish.
//
// Writability is tried by creating and removing a file, since the mode
// bits do not tell (root ignores them; a read-only mount does not show
// in them).
func checkDataDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("data_dir %s: exists and is not a directory", dir)
	case err == nil:
		if err := probeWrite(dir); err != nil {
			return fmt.Errorf("data_dir %s: not writable: %w", dir, err)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	pi, err := os.Stat(parent)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("data_dir %s: its parent directory %s does not exist", dir, parent)
	case err != nil:
		return fmt.Errorf("data_dir %s: %w", dir, err)
	case !pi.IsDir():
		return fmt.Errorf("data_dir %s: its parent %s is not a directory", dir, parent)
	}
	if err := probeWrite(parent); err != nil {
		return fmt.Errorf("data_dir %s: does not exist and cannot be created: %s is not writable: %w", dir, parent, err)
	}
	return nil
}

// probeWrite creates a file in dir and removes it.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".pillarbox-write-check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// checkACME checks what ACME needs that the config alone cannot say: a
// hostname a CA can issue for, readable acme_ca_roots, and a usable
// data_dir/acme (checkDataDir has checked data_dir, and so that a
// missing acme directory can be made in it).
func checkACME(cfg *Config) error {
	if !strings.Contains(cfg.Hostname, ".") || net.ParseIP(cfg.Hostname) != nil {
		return fmt.Errorf("tls.acme: hostname %q is not a DNS name a CA issues certificates for", cfg.Hostname)
	}
	if cfg.TLS.ACMECARoots != "" {
		if _, err := loadCARoots(cfg.TLS.ACMECARoots); err != nil {
			return err
		}
	}
	dir := acmeDir(cfg)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("tls.acme: %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("tls.acme: %s: exists and is not a directory", dir)
	}
	if err := probeWrite(dir); err != nil {
		return fmt.Errorf("tls.acme: %s: not writable: %w", dir, err)
	}
	return nil
}
