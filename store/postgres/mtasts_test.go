package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"pillarbox/store"
)

func TestMTASTSPolicies(t *testing.T) {
	t.Parallel()
	db := openTest(t)
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

	// Replacing keeps one row, with the new values.
	a2 := a
	a2.ID, a2.Fetched = "2", t0.Add(time.Hour)
	if err := db.PutMTASTSPolicy(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.MTASTSPolicy(ctx, "a.test"); got.ID != "2" || !got.Fetched.Equal(a2.Fetched) {
		t.Errorf("after replace: %+v", got)
	}
	var n int
	query1(t, db.pool, "SELECT count(*) FROM mta_sts_policies", &n)
	if n != 2 {
		t.Errorf("%d rows after a replace, want 2", n)
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

// A policy one node put is the one every node reads.
func TestMTASTSPolicySharedByNodes(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_123)
	p := store.MTASTSPolicy{Domain: "a.test", ID: "1", Policy: "p", Fetched: t0, Expires: t0.Add(time.Hour), LastUsed: t0}
	if err := a.PutMTASTSPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, err := b.MTASTSPolicy(ctx, "a.test"); err != nil || got.ID != "1" || !got.Expires.Equal(p.Expires) {
		t.Fatalf("the other node reads %+v, %v", got, err)
	}
	if err := b.DeleteMTASTSPolicy(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.MTASTSPolicy(ctx, "a.test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the other node deleted it: %v", err)
	}
}
