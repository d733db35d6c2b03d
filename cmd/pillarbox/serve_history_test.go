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

// TestPruneHistoryRuns drives the background pruning with its ticks: it
// prunes at start and at each tick, and stops with its context.
func TestPruneHistoryRuns(t *testing.T) {
	db := storetest.Open(t, pg)
	var logs lockedBuffer
	var clock atomic.Int64
	clock.Store(1_800_000_000)
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4,
		Now: func() time.Time { return time.Unix(clock.Load(), 0) }, HistoryKeep: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.AddUser(ctx, "bob@example.org", "password1"); err != nil {
		t.Fatal(err)
	}
	rcpt, err := svc.Resolve(ctx, mailbox.Address{Local: "bob", Domain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Deliver(ctx, &mailbox.Delivery{From: "a@remote.test", Recipients: []mailbox.Recipient{rcpt},
		Data: []byte("Subject: old\r\nMessage-ID: <old@remote.test>\r\n\r\nx\r\n")}); err != nil {
		t.Fatal(err)
	}
	ticks := make(chan time.Time)
	done := make(chan error, 1)
	go func() { done <- pruneHistory(ctx, svc, ticks, slog.New(slog.NewTextHandler(&logs, nil))) }()
	ticks <- time.Time{} // the start's pass is done: nothing was old yet
	if evs, _ := svc.History(ctx, mailbox.HistoryByMessageID, "old@remote.test", 10); len(evs) != 2 {
		t.Fatalf("pruned too early: %d events left", len(evs))
	}
	clock.Add(int64(2 * time.Hour / time.Second))
	ticks <- time.Time{} // the tick's pass runs
	ticks <- time.Time{} // and is done
	if evs, _ := svc.History(ctx, mailbox.HistoryByMessageID, "old@remote.test", 10); len(evs) != 0 {
		t.Fatalf("%d events older than the keep left", len(evs))
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("ended with %v", err)
	}
	if !strings.Contains(logs.String(), "history: pruned old events") {
		t.Errorf("no log line:\n%s", logs.String())
	}
}
