package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"pillarbox/smtp/relay"
	"pillarbox/smtp/relay/dane"
	"pillarbox/smtp/relay/tlspolicy"
	"pillarbox/store"
)

// mtastsRefreshEvery is how often cached MTA-STS policies are looked at
// for a refresh (tlspolicy.Policies.Refresh downloads only those due).
const mtastsRefreshEvery = time.Hour

// relaySecurity builds the relay's transport security from [relay] and
// [dns], and the worker that keeps MTA-STS policies fresh.
func relaySecurity(w *wiring) (relay.Security, worker, error) {
	cfg := w.cfg
	sec := relay.Security{
		SmarthostTLS:  cfg.Relay.SmarthostTLS,
		SmarthostUser: cfg.Relay.SmarthostUser,
	}
	if cfg.Relay.SmarthostUser != "" {
		pw, err := smarthostPassword(cfg)
		if err != nil {
			return relay.Security{}, nil, err
		}
		sec.SmarthostPassword = pw
	}
	if cfg.Relay.SmarthostCA != "" {
		pool, err := loadCA(cfg.Relay.SmarthostCA)
		if err != nil {
			return relay.Security{}, nil, fmt.Errorf("relay.smarthost_ca: %w", err)
		}
		// Security.RootCAs would verify MX hosts under MTA-STS too, but
		// with a smarthost (which smarthost_ca needs) there are none.
		sec.RootCAs = pool
	}
	if cfg.DNS.DNSSEC {
		r, err := dane.New(dane.Options{Addr: cfg.DNS.Resolver})
		if err != nil {
			return relay.Security{}, nil, fmt.Errorf("dns.resolver: %w", err)
		}
		sec.DANE = r
		w.log.Info("DANE is on: TLSA records authenticated by the resolver are enforced", "resolver", cfg.DNS.Resolver)
		if host, _, err := net.SplitHostPort(cfg.DNS.Resolver); err == nil && !net.ParseIP(host).IsLoopback() {
			// The AD bit is only as good as the path to the resolver:
			// anyone on it can forge answers that DANE then trusts.
			w.log.Warn("DANE trusts the AD bit of a resolver that is not on this host: the network path to it must be trusted",
				"resolver", cfg.DNS.Resolver)
		}
	} else if cfg.Relay.Smarthost == "" {
		w.log.Info("DANE is off: set [dns] dnssec = true with a validating [dns] resolver to use it")
	}
	if cfg.Relay.Smarthost != "" {
		// A smarthost that worked before issue 9 without TLS or with a
		// self-signed certificate now defers every message: say so once.
		w.log.Info("relay: smarthost TLS", "smarthost", cfg.Relay.Smarthost, "smarthost_tls", cfg.Relay.SmarthostTLS,
			"certificate_checked", cfg.Relay.SmarthostTLS != "none", "login", cfg.Relay.SmarthostUser != "")
	}
	sec.MTASTS = tlspolicy.New(tlspolicy.Options{
		Fetcher: tlspolicy.NewFetcher(tlspolicy.FetcherOptions{Resolver: newResolver(cfg.DNS.Resolver)}),
		Store:   mtastsStore{db: w.db},
		Logger:  w.log,
	})
	refresh := func(ctx context.Context) error {
		if sec.DANE != nil {
			checkValidates(ctx, sec.DANE, w.log)
		}
		t := time.NewTicker(mtastsRefreshEvery)
		defer t.Stop()
		return refreshPolicies(ctx, sec.MTASTS, t.C, w.log)
	}
	return sec, refresh, nil
}

// checkValidates warns once at start when the resolver named trusted
// does not set the AD bit, so that the operator learns DANE will never
// apply with it.
func checkValidates(ctx context.Context, r *dane.Resolver, log *slog.Logger) {
	ok, err := r.Validates(ctx)
	switch {
	case err != nil:
		log.Warn("DANE: could not ask the resolver whether it validates", "err", err)
	case !ok:
		log.Warn("DANE: the resolver does not set the AD bit for the signed root zone: it does not validate DNSSEC, and DANE will never apply")
	}
}

// refreshPolicies refreshes the cached MTA-STS policies at each tick
// until ctx ends (RFC 8461 3.3).
func refreshPolicies(ctx context.Context, p *tlspolicy.Policies, tick <-chan time.Time, log *slog.Logger) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			if err := p.Refresh(ctx); err != nil && ctx.Err() == nil {
				log.Error("mta-sts refresh", "err", err)
			}
		}
	}
}

// smarthostPassword is [relay] smarthost_password, or the first line of
// smarthost_password_file.
func smarthostPassword(cfg *Config) (string, error) {
	if cfg.Relay.SmarthostPasswordFile == "" {
		return cfg.Relay.SmarthostPassword, nil
	}
	b, err := os.ReadFile(cfg.Relay.SmarthostPasswordFile)
	if err != nil {
		return "", fmt.Errorf("relay.smarthost_password_file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("relay.smarthost_password_file: %s: the first line is empty", cfg.Relay.SmarthostPasswordFile)
	}
	return pw, nil
}

// loadCA reads a PEM file of CA certificates.
func loadCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// mtastsStore keeps MTA-STS policies in the database (table
// mta_sts_policies), so that they survive restarts as RFC 8461 5.1
// expects of a policy cache.
type mtastsStore struct{ db store.Store }

var _ tlspolicy.Store = mtastsStore{}

func (s mtastsStore) Get(ctx context.Context, domain string) (tlspolicy.Record, bool, error) {
	p, err := s.db.MTASTSPolicy(ctx, domain)
	if errors.Is(err, store.ErrNotFound) {
		return tlspolicy.Record{}, false, nil
	}
	if err != nil {
		return tlspolicy.Record{}, false, err
	}
	rec, err := fromStored(p)
	if err != nil {
		// A policy that no longer parses (a newer or older parser) is
		// as good as none: the next lookup fetches it again.
		return tlspolicy.Record{}, false, nil
	}
	return rec, true, nil
}

func (s mtastsStore) Put(ctx context.Context, rec tlspolicy.Record) error {
	return s.db.PutMTASTSPolicy(ctx, store.MTASTSPolicy{Domain: rec.Domain, ID: rec.ID, Policy: rec.Policy.String(),
		Fetched: rec.Fetched, Expires: rec.Expires, LastUsed: rec.LastUsed})
}

func (s mtastsStore) Stale(ctx context.Context, fetchedBefore, expiresBefore time.Time) ([]tlspolicy.Record, error) {
	ps, err := s.db.StaleMTASTSPolicies(ctx, fetchedBefore, expiresBefore)
	if err != nil {
		return nil, err
	}
	var out []tlspolicy.Record
	for _, p := range ps {
		if rec, err := fromStored(p); err == nil {
			out = append(out, rec)
		}
	}
	return out, nil
}

func (s mtastsStore) Delete(ctx context.Context, domain string) error {
	return s.db.DeleteMTASTSPolicy(ctx, domain)
}

func fromStored(p store.MTASTSPolicy) (tlspolicy.Record, error) {
	pol, err := tlspolicy.Parse(p.Policy)
	if err != nil {
		return tlspolicy.Record{}, err
	}
	return tlspolicy.Record{Domain: p.Domain, ID: p.ID, Policy: pol, Fetched: p.Fetched, Expires: p.Expires, LastUsed: p.LastUsed}, nil
}
