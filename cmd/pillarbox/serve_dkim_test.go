package main

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store/storetest"
)

// TestWatchDKIMSwitchesOnceSeen drives the background check with its
// ticks: nothing changes while the new records are missing, the keys
// switch at the first check that sees them, and the wait is logged once.
func TestWatchDKIMSwitchesOnceSeen(t *testing.T) {
	db := storetest.Open(t, pg)
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := svc.EnsureDomains(ctx, []string{"example.org"}); err != nil {
		t.Fatal(err)
	}
	rot, err := svc.RotateDKIM(ctx, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	var published atomic.Bool
	lookup := func(_ context.Context, k mailbox.DKIMKey) (bool, error) { return published.Load(), nil }
	ticks := make(chan time.Time)
	done := make(chan error, 1)
	go func() { done <- watchDKIM(ctx, svc, lookup, ticks, log) }()

	tick := func() {
		select {
		case ticks <- time.Time{}:
		case <-time.After(10 * time.Second):
			t.Fatal("the watcher stopped taking ticks")
		}
	}
	signing := func() string {
		keys, err := svc.DKIMSigningKeys(ctx, "example.org")
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, k := range keys {
			s = append(s, k.Selector)
		}
		return strings.Join(s, ",")
	}
	before := signing()
	tick() // the first check is done: records missing
	tick() // and a second
	if got := signing(); got != before {
		t.Fatalf("switched to %s with no record published", got)
	}
	published.Store(true)
	tick() // the check after this sees them
	tick()
	if got, want := signing(), rot.Pending[0].Selector+","+rot.Pending[1].Selector; got != want {
		t.Fatalf("signing with %s after the records were seen, want %s", got, want)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("watcher ended with %v", err)
	}
	out := logs.String()
	if n := strings.Count(out, "rotation waiting"); n != 1 {
		t.Errorf("the wait was logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "now signing"); n != 1 {
		t.Errorf("the switch was logged %d times:\n%s", n, out)
	}
}
