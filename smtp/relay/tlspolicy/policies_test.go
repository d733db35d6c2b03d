package tlspolicy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

const week = 7 * 24 * time.Hour

func TestLookupNoRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.dns.SetTXT("_mta-sts."+testDomain, "v=spf1 -all")
	r := e.lookup()
	if r.Policy.Mode != ModeNone || r.Source != SourceNone || r.Err != nil || r.Domain != testDomain {
		t.Errorf("Lookup = %+v, want no policy and no error", r)
	}
	if !r.Permits("anything.example") || r.RequiresTLS() || r.Checks() {
		t.Errorf("no policy restricts delivery: %+v", r)
	}
	if e.hits() != 0 {
		t.Errorf("%d fetches without a record", e.hits())
	}
}

func TestLookupFetchesThenCaches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t0 := e.clock.Now()
	r := e.lookup()
	if r.Err != nil || r.Source != SourceFetch || r.Policy.Mode != ModeEnforce || r.ID != "20260301" || !r.Expires.Equal(t0.Add(week)) {
		t.Fatalf("first Lookup = %+v", r)
	}
	if !r.Permits("MX1.example.test.") || !r.Permits("a.mx.example.test") || r.Permits("mx2.example.test") || !r.RequiresTLS() {
		t.Errorf("enforce policy permits the wrong hosts: %+v", r)
	}
	rec := e.stored()
	if rec.ID != "20260301" || !rec.Fetched.Equal(t0) || !rec.Expires.Equal(t0.Add(week)) || !rec.LastUsed.Equal(t0) || rec.Policy.String() != r.Policy.String() {
		t.Errorf("stored %+v", rec)
	}
	if !strings.Contains(e.logs.String(), "mta-sts policy fetched") {
		t.Errorf("no log line for the fetch:\n%s", e.logs)
	}

	e.clock.advance(week - time.Second)
	r = e.lookup()
	if r.Err != nil || r.Source != SourceCache || r.Policy.Mode != ModeEnforce {
		t.Errorf("second Lookup = %+v, want the cached policy", r)
	}
	if e.hits() != 1 {
		t.Errorf("%d fetches, want 1", e.hits())
	}
}

// TestLookupIDChange: a new id in DNS means a new policy, fetched at once
// even though the cached one has not expired (RFC 8461 3.1).
func TestLookupIDChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.lookup()
	e.dns.SetTXT("_mta-sts."+testDomain, "v=STSv1; id=20260302")
	e.host.set(func(h *policyHost) { h.body = testingPolicy })
	e.clock.advance(time.Hour)
	r := e.lookup()
	if r.Err != nil || r.Source != SourceFetch || r.Policy.Mode != ModeTesting || r.ID != "20260302" {
		t.Fatalf("Lookup after the id changed = %+v", r)
	}
	if !r.Permits("elsewhere.example") || r.Policy.Matches("elsewhere.example") || !r.Checks() || r.RequiresTLS() {
		t.Errorf("testing policy: %+v", r)
	}
	if rec := e.stored(); rec.ID != "20260302" || rec.Policy.Mode != ModeTesting {
		t.Errorf("stored %+v", rec)
	}
	if e.hits() != 2 {
		t.Errorf("%d fetches, want 2", e.hits())
	}
}

// TestLookupFetchFailureKeepsCached: when the new policy cannot be
// fetched, the cached one still applies (RFC 8461 3.3, 5.1), and the
// host is not asked again for RetryAfter.
func TestLookupFetchFailureKeepsCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.lookup()
	e.dns.SetTXT("_mta-sts."+testDomain, "v=STSv1; id=2")
	e.host.set(func(h *policyHost) { h.status = http.StatusServiceUnavailable })
	r := e.lookup()
	if r.Source != SourceCache || r.Policy.Mode != ModeEnforce || r.ID != "20260301" || r.Err == nil || !strings.Contains(r.Err.Error(), "503") {
		t.Fatalf("Lookup with the host failing = %+v", r)
	}
	if e.hits() != 2 {
		t.Fatalf("%d fetches, want 2", e.hits())
	}

	e.clock.advance(5*time.Minute - time.Second)
	r = e.lookup()
	if r.Source != SourceCache || r.Err == nil || !strings.Contains(r.Err.Error(), "no new fetch before") {
		t.Errorf("Lookup within RetryAfter = %+v", r)
	}
	if e.hits() != 2 {
		t.Errorf("%d fetches within RetryAfter, want still 2", e.hits())
	}

	e.clock.advance(time.Second)
	e.host.set(func(h *policyHost) { h.status, h.body = 0, testingPolicy })
	r = e.lookup()
	if r.Source != SourceFetch || r.Policy.Mode != ModeTesting || r.ID != "2" || r.Err != nil {
		t.Errorf("Lookup after RetryAfter = %+v", r)
	}
}

// TestLookupRetryAfterPerID: a failure for one id does not hold back
// the fetch of the next.
func TestLookupRetryAfterPerID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.host.set(func(h *policyHost) { h.status = http.StatusNotFound })
	if r := e.lookup(); r.Source != SourceNone || r.Err == nil {
		t.Fatalf("Lookup with the host failing and nothing cached = %+v", r)
	}
	e.host.set(func(h *policyHost) { h.status = 0 })
	e.dns.SetTXT("_mta-sts."+testDomain, "v=STSv1; id=fixed")
	if r := e.lookup(); r.Source != SourceFetch || r.ID != "fixed" {
		t.Errorf("Lookup under a new id = %+v", r)
	}
}

func TestLookupDNSFailure(t *testing.T) {
	t.Parallel()
	t.Run("nothing cached", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.dns.ServFail("_mta-sts." + testDomain)
		r := e.lookup()
		if r.Source != SourceNone || r.Policy.Mode != ModeNone || r.Err == nil || errors.Is(r.Err, ErrNoRecord) {
			t.Errorf("Lookup = %+v, want no policy with the DNS error", r)
		}
		if e.hits() != 0 {
			t.Errorf("%d fetches", e.hits())
		}
	})
	t.Run("cached", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.lookup()
		e.dns.ServFail("_mta-sts." + testDomain)
		r := e.lookup()
		if r.Source != SourceCache || r.Policy.Mode != ModeEnforce || r.Err == nil {
			t.Errorf("Lookup = %+v, want the cached policy and the DNS error", r)
		}
		e.clock.advance(week)
		if r := e.lookup(); r.Source != SourceNone || r.Policy.Mode != ModeNone || r.Err == nil {
			t.Errorf("Lookup after expiry = %+v, want no policy", r)
		}
	})
}

// TestLookupRecordRemoved: a TXT record that disappears does not cancel
// the cached policy before it expires, or stripping it would be an
// attack (RFC 8461 5.1, 10.2).
func TestLookupRecordRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.lookup()
	e.dns.SetTXT("_mta-sts." + testDomain) // no records left
	r := e.lookup()
	if r.Source != SourceCache || r.Policy.Mode != ModeEnforce || r.Err != nil {
		t.Errorf("Lookup = %+v, want the cached policy", r)
	}
	e.clock.advance(week)
	if r := e.lookup(); r.Source != SourceNone || r.Policy.Mode != ModeNone || r.Err != nil {
		t.Errorf("Lookup after expiry = %+v, want no policy", r)
	}
	if e.hits() != 1 {
		t.Errorf("%d fetches, want 1", e.hits())
	}
}

func TestLookupExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.lookup()
	e.clock.advance(week)
	// Same id, but the cached policy has expired: fetched again.
	r := e.lookup()
	if r.Source != SourceFetch || r.Err != nil || !r.Expires.Equal(e.clock.Now().Add(week)) {
		t.Errorf("Lookup at expiry = %+v, want a new fetch", r)
	}
	e.clock.advance(week)
	e.host.set(func(h *policyHost) { h.status = http.StatusInternalServerError })
	if r := e.lookup(); r.Source != SourceNone || r.Policy.Mode != ModeNone || r.Err == nil {
		t.Errorf("Lookup at expiry with the host failing = %+v, want no policy", r)
	}
}

// TestLookupMaxAgeZero: a policy that may not be cached applies to the
// lookup that fetched it only.
func TestLookupMaxAgeZero(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.host.set(func(h *policyHost) { h.body = strings.Replace(enforcePolicy, "604800", "0", 1) })
	for i := 1; i <= 2; i++ {
		if r := e.lookup(); r.Source != SourceFetch || r.Policy.Mode != ModeEnforce {
			t.Errorf("Lookup %d = %+v", i, r)
		}
	}
	if e.hits() != 2 {
		t.Errorf("%d fetches, want 2", e.hits())
	}
}

func TestLookupModeNone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.host.set(func(h *policyHost) { h.body = "version: STSv1\nmode: none\nmax_age: 86400\n" })
	e.lookup()
	r := e.lookup()
	if r.Source != SourceCache || r.Policy.Mode != ModeNone || !r.Permits("any.example") || r.Checks() {
		t.Errorf("Lookup = %+v, want a cached mode none that restricts nothing", r)
	}
}

// TestLookupLastUsed: a cached policy's use is written at most daily.
func TestLookupLastUsed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t0 := e.clock.Now()
	e.lookup()
	e.clock.advance(23 * time.Hour)
	e.lookup()
	if rec := e.stored(); !rec.LastUsed.Equal(t0) {
		t.Errorf("LastUsed %v after 23 h, want %v", rec.LastUsed, t0)
	}
	e.clock.advance(time.Hour)
	e.lookup()
	if rec := e.stored(); !rec.LastUsed.Equal(e.clock.Now()) {
		t.Errorf("LastUsed %v after 24 h, want %v", rec.LastUsed, e.clock.Now())
	}
}

func TestLookupInvalidDomain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.policies.Lookup(context.Background(), "[192.0.2.1]")
	if r.Policy.Mode != ModeNone || r.Err == nil || !strings.Contains(r.Err.Error(), "invalid domain") {
		t.Errorf("Lookup = %+v", r)
	}
}

// failingStore is a MemoryStore whose methods fail while fail is set.
type failingStore struct {
	*MemoryStore
	mu   sync.Mutex
	fail bool
}

var errStore = errors.New("disk on fire")

func (s *failingStore) failing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail
}

func (s *failingStore) setFail(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = v
}

func (s *failingStore) Get(ctx context.Context, d string) (Record, bool, error) {
	if s.failing() {
		return Record{}, false, errStore
	}
	return s.MemoryStore.Get(ctx, d)
}

func (s *failingStore) Put(ctx context.Context, rec Record) error {
	if s.failing() {
		return errStore
	}
	return s.MemoryStore.Put(ctx, rec)
}

func (s *failingStore) Stale(ctx context.Context, f, x time.Time) ([]Record, error) {
	if s.failing() {
		return nil, errStore
	}
	return s.MemoryStore.Stale(ctx, f, x)
}

// TestLookupStoreFailure: a broken store costs the cache, not the policy.
func TestLookupStoreFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := &failingStore{MemoryStore: e.store, fail: true}
	p := New(Options{Fetcher: e.fetcher, Store: st, Now: e.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r := p.Lookup(context.Background(), testDomain)
	if r.Source != SourceFetch || r.Policy.Mode != ModeEnforce || !errors.Is(r.Err, errStore) {
		t.Errorf("Lookup = %+v, want the fetched policy and the store error", r)
	}
	if err := p.Refresh(context.Background()); !errors.Is(err, errStore) {
		t.Errorf("Refresh = %v, want the store error", err)
	}
}

func TestResultMethods(t *testing.T) {
	t.Parallel()
	mx := []string{"mx.example.com"}
	for _, tc := range []struct {
		mode                           Mode
		permitsOther, requires, checks bool
	}{
		{ModeNone, true, false, false},
		{ModeTesting, true, false, true},
		{ModeEnforce, false, true, true},
	} {
		r := Result{Policy: Policy{Mode: tc.mode, MX: mx}}
		if !r.Permits("mx.example.com") || r.Permits("other.example.com") != tc.permitsOther ||
			r.RequiresTLS() != tc.requires || r.Checks() != tc.checks {
			t.Errorf("mode %v: Permits(other) %v, RequiresTLS %v, Checks %v", tc.mode, r.Permits("other.example.com"), r.RequiresTLS(), r.Checks())
		}
	}
	if (Result{}).Source.String() != "none" || SourceCache.String() != "cache" || SourceFetch.String() != "fetch" {
		t.Error("Source names")
	}
}

// mapResolver answers TXT lookups from a map, without a network.
type mapResolver map[string][]string

func (m mapResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return m[name], nil
}

// blockingTransport answers every request with the policy once release
// is closed, counting the requests.
type blockingTransport struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (b *blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Request: r,
		Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader(enforcePolicy))}, nil
}

func (b *blockingTransport) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// TestLookupConcurrentFetchOnce: lookups of a domain while its policy is
// being fetched wait for that fetch instead of starting their own.
func TestLookupConcurrentFetchOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &blockingTransport{release: make(chan struct{})}
		f := NewFetcher(FetcherOptions{
			Resolver:   mapResolver{"_mta-sts." + testDomain: {"v=STSv1; id=1"}},
			HTTPClient: &http.Client{Transport: tr},
		})
		p := New(Options{Fetcher: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		results := make(chan Result, 3)
		for range 3 {
			go func() { results <- p.Lookup(context.Background(), testDomain) }()
		}
		synctest.Wait() // all three blocked: one in the transport, two on it
		if n := tr.count(); n != 1 {
			t.Errorf("%d requests under way, want 1", n)
		}
		close(tr.release)
		for range 3 {
			if r := <-results; r.Policy.Mode != ModeEnforce || r.Err != nil {
				t.Errorf("Lookup = %+v", r)
			}
		}
		if n := tr.count(); n != 1 {
			t.Errorf("%d requests in all, want 1", n)
		}
	})
}

// TestLookupCanceledWait: a lookup that gives up while another's fetch
// is under way returns at once, with no policy, and does not count as a
// failure of the host.
func TestLookupCanceledWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &blockingTransport{release: make(chan struct{})}
		f := NewFetcher(FetcherOptions{
			Resolver:   mapResolver{"_mta-sts." + testDomain: {"v=STSv1; id=1"}},
			HTTPClient: &http.Client{Transport: tr},
		})
		p := New(Options{Fetcher: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		first := make(chan Result, 1)
		go func() { first <- p.Lookup(context.Background(), testDomain) }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		second := make(chan Result, 1)
		go func() { second <- p.Lookup(ctx, testDomain) }()
		synctest.Wait()
		cancel()
		if r := <-second; r.Policy.Mode != ModeNone || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("canceled Lookup = %+v", r)
		}
		close(tr.release)
		if r := <-first; r.Policy.Mode != ModeEnforce {
			t.Errorf("first Lookup = %+v", r)
		}
	})
}

// TestLookupCanceledFetch: a fetch its caller gave up on says nothing of
// the policy host, so the next lookup fetches at once instead of waiting
// RetryAfter.
func TestLookupCanceledFetch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &blockingTransport{release: make(chan struct{})}
		f := NewFetcher(FetcherOptions{
			Resolver:   mapResolver{"_mta-sts." + testDomain: {"v=STSv1; id=1"}},
			HTTPClient: &http.Client{Transport: tr},
		})
		p := New(Options{Fetcher: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan Result, 1)
		go func() { first <- p.Lookup(ctx, testDomain) }()
		synctest.Wait()
		cancel()
		if r := <-first; r.Policy.Mode != ModeNone || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("canceled Lookup = %+v", r)
		}
		close(tr.release)
		if r := p.Lookup(context.Background(), testDomain); r.Source != SourceFetch || r.Err != nil {
			t.Errorf("next Lookup = %+v, want a fetch", r)
		}
		if n := tr.count(); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
}
