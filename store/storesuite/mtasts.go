package storesuite

import (
	"context"
	"errors"
	"testing"
	"time"

	"pillarbox/store"
)

// MTASTS checks the relay's MTA-STS policy cache: a policy reads back
// as it was put, putting one again replaces it, the stale ones are
// found by either bound, and a deleted one is gone.
func MTASTS(t *testing.T, open Opener) {
	t.Run("Policies", func(t *testing.T) { t.Parallel(); mtastsPolicies(t, open) })
}

func mtastsPolicies(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	if _, err := db.MTASTSPolicy(ctx, "a.test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MTASTSPolicy of nothing: %v, want ErrNotFound", err)
	}
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 123e6, time.UTC)
	a := store.MTASTSPolicy{Domain: "a.test", ID: "1", Policy: "version: STSv1\nmode: enforce\nmx: mx.a.test\nmax_age: 86400\n",
		Fetched: t0, Expires: t0.Add(24 * time.Hour), LastUsed: t0}
	b := store.MTASTSPolicy{Domain: "b.test", ID: "x", Policy: "version: STSv1\nmode: none\nmax_age: 600\n",
		Fetched: t0.Add(-48 * time.Hour), Expires: t0.Add(-47 * time.Hour), LastUsed: t0.Add(-48 * time.Hour)}
	for _, p := range []store.MTASTSPolicy{a, b} {
		if err := db.PutMTASTSPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.MTASTSPolicy(ctx, "a.test")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.Policy != a.Policy || !got.Fetched.Equal(a.Fetched) || !got.Expires.Equal(a.Expires) || !got.LastUsed.Equal(a.LastUsed) {
		t.Errorf("read back %+v, want %+v", got, a)
	}

	// Replacing keeps one policy of the domain, with the new values.
	a2 := a
	a2.ID, a2.Fetched = "2", t0.Add(time.Hour)
	if err := db.PutMTASTSPolicy(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.MTASTSPolicy(ctx, "a.test"); got.ID != "2" || !got.Fetched.Equal(a2.Fetched) {
		t.Errorf("after replace: %+v", got)
	}
	// Bounds after everything find every policy the store holds: the
	// replaced one is gone.
	far := t0.Add(1000 * time.Hour)
	all, err := db.StaleMTASTSPolicies(ctx, far, far)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Domain != "a.test" || all[0].ID != "2" || all[1].Domain != "b.test" {
		t.Errorf("%d policies after a replace (%+v), want a.test's new one and b.test's", len(all), all)
	}

	stale, err := db.StaleMTASTSPolicies(ctx, t0.Add(-time.Hour), t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || stale[0].Domain != "b.test" {
		t.Errorf("stale = %+v, want only b.test", stale)
	}
	// Expiring before the bound counts too, and the bounds are strict.
	stale, _ = db.StaleMTASTSPolicies(ctx, t0.Add(-time.Hour), t0.Add(25*time.Hour+time.Minute))
	if len(stale) != 2 || stale[0].Domain != "a.test" {
		t.Errorf("stale by expiry = %+v, want a.test and b.test", stale)
	}
	if stale, _ = db.StaleMTASTSPolicies(ctx, b.Fetched, b.Expires); len(stale) != 0 {
		t.Errorf("stale at the bounds = %+v, want none", stale)
	}

	if err := db.DeleteMTASTSPolicy(ctx, "b.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MTASTSPolicy(ctx, "b.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := db.DeleteMTASTSPolicy(ctx, "b.test"); err != nil {
		t.Errorf("deleting no policy: %v", err)
	}
}
