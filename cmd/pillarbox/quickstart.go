package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"pillarbox/mailbox"
)

// The paths quickstart writes to unless told otherwise: where a
// packaged service keeps its config and its state.
const (
	quickstartConfig  = "/etc/pillarbox/pillarbox.toml"
	quickstartDataDir = "/var/lib/pillarbox"
	quickstartUsage   = "pillarbox quickstart HOSTNAME DOMAIN [--config FILE] [--data-dir DIR] [--acme-email ADDR] [--no-acme] [--force]"
)

// quickstartPlan is what quickstart was asked for, checked and
// normalised.
type quickstartPlan struct {
	Hostname, Domain string
	// Config and DataDir are absolute, so that neither the config nor the
	// unit depends on the directory quickstart ran in.
	Config, DataDir string
	// ACME is false with --no-acme; ACMEEmail is then empty.
	ACME      bool
	ACMEEmail string
	Force     bool
}

// cmdQuickstart writes a production config, makes the domain with its
// postmaster@ and DKIM keys, and prints the DNS records, a systemd unit
// and what to do next. Everything that can be found wrong is found
// before anything is written.
func cmdQuickstart(ctx context.Context, e *env, args []string) error {
	p, err := parseQuickstart(args)
	if err != nil {
		return err
	}
	if err := p.check(); err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	text, err := renderConfig(p)
	if err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("quickstart: the path of this program, for the unit: %w", err)
	}
	unit, err := renderUnit(p, exe)
	if err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	if err := writeVerifiedConfig(p.Config, text); err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	cfg, db, svc, err := openService(p.Config)
	if err != nil {
		return fmt.Errorf("quickstart: wrote %s, then: %w", p.Config, err)
	}
	defer db.Close()
	added, err := svc.AddDomain(ctx, p.Domain)
	existed := errors.Is(err, mailbox.ErrExists)
	if err != nil && !existed {
		return fmt.Errorf("quickstart: wrote %s, then adding %s: %w (run quickstart again with --force)", p.Config, p.Domain, err)
	}
	recs, err := domainRecords(ctx, cfg, svc, p.Domain)
	if err != nil {
		// The password is shown only once: an error after the domain is
		// made must not lose it.
		if added.Password != "" {
			fmt.Fprintf(e.stderr, "quickstart: %s's password is %s\n", added.Postmaster, added.Password)
		}
		return fmt.Errorf("quickstart: %w", err)
	}
	var b strings.Builder
	writeQuickstartReport(&b, p, cfg, added, existed, recs, unit, exe)
	_, err = io.WriteString(e.stdout, b.String())
	return err
}

// parseQuickstart reads quickstart's flags and arguments.
func parseQuickstart(args []string) (*quickstartPlan, error) {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config := fs.String("config", quickstartConfig, "the configuration file to write (TOML)")
	dataDir := fs.String("data-dir", quickstartDataDir, "the directory for the database, the certificates and the ACME account")
	email := fs.String("acme-email", "", "the contact address given to the ACME CA (default postmaster@DOMAIN)")
	noACME := fs.Bool("no-acme", false, "no certificates from Let's Encrypt: a self-signed one until tls.cert and tls.key are set")
	force := fs.Bool("force", false, "overwrite an existing configuration file")
	pos, err := parseCommand(fs, args, 2, quickstartUsage)
	if err != nil {
		return nil, err
	}
	if *noACME && *email != "" {
		return nil, errors.New("quickstart: --acme-email is for ACME, which --no-acme turns off")
	}
	p := &quickstartPlan{ACME: !*noACME, Force: *force}
	for _, n := range []struct {
		what, in string
		out      *string
	}{{"HOSTNAME", pos[0], &p.Hostname}, {"DOMAIN", pos[1], &p.Domain}} {
		if *n.out, err = normalizeDomain(n.in); err != nil {
			return nil, fmt.Errorf("quickstart: %s: %w", n.what, err)
		}
		// A CA issues no certificate for a single label, and no other
		// server can find one in DNS.
		if !strings.Contains(*n.out, ".") {
			return nil, fmt.Errorf("quickstart: %s: %q is not a fully qualified name (such as mx.example.org)", n.what, n.in)
		}
	}
	if p.ACME {
		p.ACMEEmail = "postmaster@" + p.Domain
		if *email != "" {
			a, err := mailbox.ParseAddress(*email)
			if err != nil {
				return nil, fmt.Errorf("quickstart: --acme-email: %w", err)
			}
			p.ACMEEmail = a.String()
		}
	}
	if p.Config, err = filepath.Abs(*config); err != nil {
		return nil, fmt.Errorf("quickstart: --config: %w", err)
	}
	if p.DataDir, err = filepath.Abs(*dataDir); err != nil {
		return nil, fmt.Errorf("quickstart: --data-dir: %w", err)
	}
	return p, nil
}

// check finds what would stop quickstart half-way: a config already
// there (without --force), a data_dir serve could not use, a config
// directory that cannot be written.
func (p *quickstartPlan) check() error {
	fi, err := os.Stat(p.Config)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s is a directory", p.Config)
	case err == nil && !p.Force:
		return fmt.Errorf("%s exists; --force overwrites it", p.Config)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := checkDataDir(p.DataDir); err != nil {
		return err
	}
	return checkConfigDir(filepath.Dir(p.Config))
}

// checkConfigDir reports why the config cannot be written in dir: it is
// not a writable directory, or it is missing and cannot be made (its
// parent must exist: a chain of missing directories is more likely a
// typo).
func checkConfigDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("config directory %s: not a directory", dir)
	case err == nil:
		if err := probeWrite(dir); err != nil {
			return fmt.Errorf("config directory %s: not writable: %w", dir, err)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("config directory %s: %w", dir, err)
	}
	parent := filepath.Dir(dir)
	if err := probeWrite(parent); err != nil {
		return fmt.Errorf("config directory %s: does not exist and cannot be made in %s: %w", dir, parent, err)
	}
	return nil
}

// writeVerifiedConfig writes text to path through a temporary file in
// the same directory, which LoadConfig must accept before it is renamed
// into place: a config quickstart wrote always loads, and a failed run
// leaves the old file whole. The mode is 0640 so that the server's group
// can read a config that root owns.
func writeVerifiedConfig(path string, text []byte) error {
	dir := filepath.Dir(path)
	// /etc/pillarbox holds nothing secret by itself: the usual 0755.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeFileVerified(path, text, 0o640, func(tmp string) error {
		if _, err := LoadConfig(tmp); err != nil {
			return fmt.Errorf("the config written does not load (a bug in quickstart): %w", err)
		}
		// --force keeps the config it replaces beside it: it may list
		// other domains or certificate files.
		if old, err := os.ReadFile(path); err == nil {
			if err := os.WriteFile(path+".bak", old, 0o640); err != nil {
				return fmt.Errorf("keeping the old config as %s.bak: %w", path, err)
			}
		}
		return nil
	})
}
