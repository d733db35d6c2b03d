package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"pillarbox/store"
)

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
