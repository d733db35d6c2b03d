package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store/storetest"
)

// TestPruneVanishedRuns drives the background trimming of remembered
// expunges with its ticks: it runs at start and at each tick, and stops
// with its context.
func TestPruneVanishedRuns(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, pg)
	var logs lockedBuffer
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4, VanishedKeep: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.AddUser(ctx, "bob@example.org", "password1"); err != nil {
		t.Fatal(err)
	}
	acct, err := svc.Authenticate(ctx, "bob@example.org", "password1")
	if err != nil {
		t.Fatal(err)
	}
	// expunge appends a deleted message to bob's INBOX and expunges it.
	expunge := func() {
		t.Helper()
		f, uid, err := svc.Append(ctx, acct.ID, "INBOX", []byte("Subject: x\r\n\r\nx\r\n"), []string{mailbox.FlagDeleted}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Expunge(ctx, acct.ID, f.ID, mailbox.UIDSet{{Start: uid, Stop: uid}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// exceeded reports whether a client from MODSEQ 0 is told that the
	// INBOX forgot expunges.
	exceeded := func() bool {
		t.Helper()
		f, err := svc.Folder(ctx, acct.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		var ex bool
		if err := svc.ReadMailbox(ctx, f.ID, nil, func(r *mailbox.Reader) error {
			_, ex, err = r.VanishedSince(0)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ex
	}
	expunge()
	ticks := make(chan time.Time)
	done := make(chan error, 1)
	go func() { done <- pruneVanished(ctx, svc, ticks, slog.New(slog.NewTextHandler(&logs, nil))) }()
	ticks <- time.Time{} // the start's pass is done: one expunge is within the keep
	if exceeded() {
		t.Fatal("forgot an expunge within the keep")
	}
	expunge()
	expunge()
	ticks <- time.Time{} // the tick's pass runs
	ticks <- time.Time{} // and is done
	if !exceeded() {
		t.Fatal("three expunges with a keep of one: none forgotten")
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("ended with %v", err)
	}
	if !strings.Contains(logs.String(), "qresync: forgot old expunges") || !strings.Contains(logs.String(), "uids=2") {
		t.Errorf("no log line:\n%s", logs.String())
	}
}
