package tlspolicy

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (e *env) refresh() {
	e.t.Helper()
	if err := e.policies.Refresh(context.Background()); err != nil {
		e.t.Fatalf("Refresh: %v", err)
	}
}

// TestRefresh: a cached policy is downloaded again once a day, even
// under the same id, which renews its max_age and picks up a changed
// body (RFC 8461 3.3).
func TestRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t0 := e.clock.Now()
	e.lookup()
	e.refresh()
	e.clock.advance(24 * time.Hour)
	e.refresh()
	if e.hits() != 1 {
		t.Fatalf("%d fetches before the policy was over a day old, want 1", e.hits())
	}
	e.clock.advance(time.Second)
	e.host.set(func(h *policyHost) { h.body = strings.Replace(enforcePolicy, "mx1.", "mx9.", 1) })
	e.refresh()
	if e.hits() != 2 {
		t.Fatalf("%d fetches after a day, want 2", e.hits())
	}
	now := e.clock.Now()
	rec := e.stored()
	if !rec.Fetched.Equal(now) || !rec.Expires.Equal(now.Add(week)) || rec.ID != "20260301" ||
		!rec.Policy.Matches("mx9.example.test") || !rec.LastUsed.Equal(t0) {
		t.Errorf("refreshed record %+v", rec)
	}
	e.refresh()
	if e.hits() != 2 {
		t.Errorf("%d fetches after a second Refresh at once, want 2", e.hits())
	}
	if r := e.lookup(); r.Source != SourceCache || !r.Permits("mx9.example.test") {
		t.Errorf("Lookup after Refresh = %+v", r)
	}
}

// TestRefreshShortMaxAge: a policy shorter than two days is refreshed at
// half its max_age, before it expires.
func TestRefreshShortMaxAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.host.set(func(h *policyHost) { h.body = strings.Replace(enforcePolicy, "604800", "3600", 1) })
	e.lookup()
	e.clock.advance(30 * time.Minute)
	e.refresh()
	if e.hits() != 1 {
		t.Fatalf("%d fetches at half the max_age, want 1", e.hits())
	}
	e.clock.advance(time.Second)
	e.refresh()
	if e.hits() != 2 {
		t.Errorf("%d fetches past half the max_age, want 2", e.hits())
	}
}

func TestRefreshFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, policy, level string
	}{
		{"enforce", enforcePolicy, "level=WARN"},
		// RFC 8461 3.3: no alert when the cached mode is none.
		{"none", "version: STSv1\nmode: none\nmax_age: 604800\n", "level=INFO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.host.set(func(h *policyHost) { h.body = tc.policy })
			e.lookup()
			before := e.stored()
			e.clock.advance(24*time.Hour + time.Second)
			e.host.set(func(h *policyHost) { h.status = http.StatusBadGateway })
			e.refresh()
			if e.hits() != 2 {
				t.Errorf("%d fetches, want 2", e.hits())
			}
			if after := e.stored(); !after.Fetched.Equal(before.Fetched) || after.Policy.String() != before.Policy.String() {
				t.Errorf("record after a failed refresh %+v, want %+v", after, before)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, tc.level+` msg="mta-sts refresh failed`) || !strings.Contains(logs, "502") {
				t.Errorf("log lacks the failure at %s:\n%s", tc.level, logs)
			}
		})
	}
}

// TestRefreshRecordGone: a removed TXT record is how a domain withdraws
// its policy (RFC 8461 8.3): the policy is not renewed.
func TestRefreshRecordGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.lookup()
	e.dns.SetTXT("_mta-sts." + testDomain)
	e.clock.advance(24*time.Hour + time.Second)
	e.refresh()
	if e.hits() != 1 {
		t.Errorf("%d fetches, want 1", e.hits())
	}
	if !strings.Contains(e.logs.String(), "record gone") {
		t.Errorf("no log line:\n%s", e.logs)
	}
}

// TestRefreshDNSDown: DNS failing must not let the policy expire; the
// policy is fetched under the cached id.
func TestRefreshDNSDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.lookup()
	e.dns.ServFail("_mta-sts." + testDomain)
	e.clock.advance(24*time.Hour + time.Second)
	e.refresh()
	if e.hits() != 2 {
		t.Errorf("%d fetches, want 2", e.hits())
	}
	if rec := e.stored(); rec.ID != "20260301" || !rec.Fetched.Equal(e.clock.Now()) {
		t.Errorf("record %+v", rec)
	}
}

// TestRefreshUnused: a policy no lookup needs is not renewed, and goes
// once expired.
func TestRefreshUnused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.host.set(func(h *policyHost) { h.body = strings.Replace(enforcePolicy, "604800", "31557600", 1) })
	e.lookup()
	e.clock.advance(31 * 24 * time.Hour)
	e.refresh()
	if e.hits() != 1 {
		t.Errorf("%d fetches of an unused policy, want 1", e.hits())
	}
	if _, ok, _ := e.store.Get(context.Background(), testDomain); !ok {
		t.Fatal("an unused policy was deleted before it expired")
	}
	e.clock.advance(MaxMaxAge)
	e.refresh()
	if _, ok, _ := e.store.Get(context.Background(), testDomain); ok {
		t.Error("an unused expired policy was kept")
	}
}

func TestRefreshCanceled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.lookup()
	e.clock.advance(24*time.Hour + time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.policies.Refresh(ctx); err == nil {
		t.Error("Refresh with a canceled context succeeded")
	}
	if e.hits() != 1 {
		t.Errorf("%d fetches, want 1", e.hits())
	}
}
