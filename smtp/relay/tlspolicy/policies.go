package tlspolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Options configures Policies. Zero values are documented per field.
type Options struct {
	// Fetcher discovers and downloads policies. Zero: NewFetcher with
	// zero FetcherOptions (system DNS, roots and network).
	Fetcher *Fetcher
	// Store caches policies. Zero: a new MemoryStore.
	Store Store
	// Now is the clock. Zero: time.Now.
	Now func() time.Time
	// Logger gets a line per policy fetched, and per failure in Refresh
	// (Lookup returns its failures in Result.Err). Zero: slog.Default().
	Logger *slog.Logger
	// RetryAfter is how long, after a failed fetch, no new fetch of the
	// same domain and id is made. RFC 8461 3.3 asks for at least five
	// minutes. Zero: 5 min.
	RetryAfter time.Duration
	// RefreshEvery: Refresh downloads a policy again once it is older
	// than this, or than half its max_age if that is sooner. Zero: 24 h, the
	// frequency RFC 8461 3.3 suggests.
	RefreshEvery time.Duration
	// Unused: a policy no lookup has needed for this long is no longer
	// refreshed, and is deleted once expired. Zero: 30 days.
	Unused time.Duration
}

// Policies answers "which policy applies to domain D now?" from the
// Store, the TXT record and the policy host, following RFC 8461 3 and
// 5.1. Safe for concurrent use.
type Policies struct {
	fetcher *Fetcher
	store   Store
	now     func() time.Time
	log     *slog.Logger
	opts    Options

	mu       sync.Mutex
	inflight map[string]*flight // by domain: the fetch under way
	failed   map[string]failure // by domain: the last failed fetch
}

// flight is one fetch that concurrent lookups of a domain share.
type flight struct {
	done chan struct{}
	res  fetched
}

// fetched is the outcome of a fetch: rec is usable when err is nil, even
// if storing it failed (storeErr).
type fetched struct {
	rec      Record
	err      error
	storeErr error
}

// failure is a failed fetch, remembered for RetryAfter.
type failure struct {
	id    string
	until time.Time
	err   error
}

// maxFailures bounds the failures remembered before stale ones are
// dropped.
const maxFailures = 1024

// touchEvery is how stale LastUsed may get before a lookup writes it.
const touchEvery = 24 * time.Hour

// New returns Policies.
func New(opts Options) *Policies {
	if opts.Fetcher == nil {
		opts.Fetcher = NewFetcher(FetcherOptions{})
	}
	if opts.Store == nil {
		opts.Store = NewMemoryStore()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Minute
	}
	if opts.RefreshEvery <= 0 {
		opts.RefreshEvery = 24 * time.Hour
	}
	if opts.Unused <= 0 {
		opts.Unused = 30 * 24 * time.Hour
	}
	return &Policies{
		fetcher: opts.Fetcher, store: opts.Store, now: opts.Now, log: opts.Logger, opts: opts,
		inflight: map[string]*flight{}, failed: map[string]failure{},
	}
}

// Lookup returns the policy that applies to mail for domain now. It
// always returns a usable Result; Result.Err says what went wrong on the
// way (for the log), not that the Result is void.
//
// It checks the TXT record on every call, as RFC 8461 3.1 and 5.1 expect
// before each delivery attempt (the resolver's cache makes that cheap),
// and downloads the policy only when no unexpired policy is cached or the
// record's id differs from the cached one. When the TXT lookup or the
// download fails, or the record is gone, an unexpired cached policy still
// applies (RFC 8461 5.1); without one, the domain has no policy.
func (p *Policies) Lookup(ctx context.Context, domain string) Result {
	now := p.now()
	d, err := asciiDomain(domain)
	if err != nil {
		return Result{Domain: domain, Err: err}
	}
	rec, cached, storeErr := p.store.Get(ctx, d)
	if storeErr != nil {
		storeErr = fmt.Errorf("tlspolicy: read cached policy of %s: %w", d, storeErr)
	}
	cached = cached && storeErr == nil && now.Before(rec.Expires)
	fallback := func(err error) Result {
		if !cached {
			return Result{Domain: d, Err: errors.Join(storeErr, err)}
		}
		return p.fromCache(ctx, rec, now, errors.Join(storeErr, err))
	}

	id, err := p.fetcher.LookupID(ctx, d)
	if errors.Is(err, ErrNoRecord) {
		// A removed record does not remove a cached policy before it
		// expires (RFC 8461 5.1), or an attacker could strip it.
		return fallback(nil)
	}
	if err != nil {
		return fallback(err)
	}
	if cached && rec.ID == id {
		return p.fromCache(ctx, rec, now, storeErr)
	}
	lastUsed := now
	f := p.fetch(ctx, d, id, lastUsed)
	if f.err != nil {
		return fallback(f.err)
	}
	return Result{Domain: d, Policy: f.rec.Policy, ID: f.rec.ID, Expires: f.rec.Expires,
		Source: SourceFetch, Err: errors.Join(storeErr, f.storeErr)}
}

// fromCache is the Result of a cached record, noting its use.
func (p *Policies) fromCache(ctx context.Context, rec Record, now time.Time, err error) Result {
	if now.Sub(rec.LastUsed) >= touchEvery {
		rec.LastUsed = now
		if perr := p.store.Put(ctx, rec); perr != nil {
			err = errors.Join(err, fmt.Errorf("tlspolicy: note use of %s: %w", rec.Domain, perr))
		}
	}
	return Result{Domain: rec.Domain, Policy: rec.Policy, ID: rec.ID, Expires: rec.Expires,
		Source: SourceCache, Err: err}
}

// fetch downloads domain's policy and stores it under id, once for all
// concurrent callers, and not again within RetryAfter of a failure for
// the same id (RFC 8461 3.3).
func (p *Policies) fetch(ctx context.Context, domain, id string, lastUsed time.Time) fetched {
	p.mu.Lock()
	if fl, ok := p.inflight[domain]; ok {
		p.mu.Unlock()
		select {
		case <-fl.done:
			return fl.res
		case <-ctx.Done():
			return fetched{err: fmt.Errorf("tlspolicy: wait for policy of %s: %w", domain, ctx.Err())}
		}
	}
	if fl, ok := p.failed[domain]; ok && fl.id == id && p.now().Before(fl.until) {
		p.mu.Unlock()
		return fetched{err: fmt.Errorf("tlspolicy: %s: no new fetch before %s after: %w",
			domain, fl.until.Format(time.RFC3339), fl.err)}
	}
	fl := &flight{done: make(chan struct{})}
	p.inflight[domain] = fl
	p.mu.Unlock()

	fl.res = p.fetchOnce(ctx, domain, id, lastUsed)

	p.mu.Lock()
	delete(p.inflight, domain)
	switch {
	case fl.res.err == nil:
		delete(p.failed, domain)
	case ctx.Err() == nil:
		// A fetch the caller gave up on says nothing of the host.
		p.noteFailureLocked(domain, failure{id: id, until: p.now().Add(p.opts.RetryAfter), err: fl.res.err})
	}
	p.mu.Unlock()
	close(fl.done)
	return fl.res
}

func (p *Policies) fetchOnce(ctx context.Context, domain, id string, lastUsed time.Time) fetched {
	pol, err := p.fetcher.FetchPolicy(ctx, domain)
	if err != nil {
		return fetched{err: err}
	}
	now := p.now()
	rec := Record{Domain: domain, ID: id, Policy: pol, Fetched: now, Expires: now.Add(pol.MaxAge), LastUsed: lastUsed}
	p.log.Info("mta-sts policy fetched", "domain", domain, "id", id, "mode", pol.Mode.String(),
		"mx", pol.MX, "max_age", pol.MaxAge)
	var storeErr error
	if err := p.store.Put(ctx, rec); err != nil {
		storeErr = fmt.Errorf("tlspolicy: store policy of %s: %w", domain, err)
	}
	return fetched{rec: rec, storeErr: storeErr}
}

// noteFailureLocked remembers a failure, first dropping the stale ones
// when there are many, so that the map stays bounded by the domains
// failing within RetryAfter.
func (p *Policies) noteFailureLocked(domain string, f failure) {
	if len(p.failed) >= maxFailures {
		now := p.now()
		for d, old := range p.failed {
			if !now.Before(old.until) {
				delete(p.failed, d)
			}
		}
	}
	p.failed[domain] = f
}
