package mailbox

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"pillarbox/store"
	"pillarbox/store/storetest"
)

// snapCounter counts the snapshots a Service takes of its store.
type snapCounter struct {
	store.Store
	n atomic.Int64
}

func (c *snapCounter) Snapshot(ctx context.Context) (store.Snapshot, error) {
	c.n.Add(1)
	return c.Store.Snapshot(ctx)
}

// TestExpungeMarkedSkipsTheRead: ExpungeMarked removes the \Deleted
// messages as Expunge does, without the read that Expunge makes first to
// spare a write; with nothing marked after all it removes nothing.
func TestExpungeMarkedSkipsTheRead(t *testing.T) {
	db := &snapCounter{Store: storetest.Open(t, pg)}
	s, err := New(db, Options{Domains: []string{"example.org"}, BcryptCost: 4, Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inbox := aliceInbox(t, s, "Subject: 1\r\n\r\nx\r\n", "Subject: 2\r\n\r\nx\r\n", "Subject: 3\r\n\r\nx\r\n")
	alice, err := s.Authenticate(ctx, "alice@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	acct := alice.ID
	if err := s.StoreFlags(ctx, acct, inbox.ID, UIDSet{{Start: 2, Stop: 2}}, FlagsAdd, []string{`\Deleted`}, nil); err != nil {
		t.Fatal(err)
	}
	count := func() uint32 {
		t.Helper()
		c, err := s.FolderCounts(ctx, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c.Messages
	}

	before := db.n.Load()
	if err := s.ExpungeMarked(ctx, acct, inbox.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if n := db.n.Load() - before; n != 0 {
		t.Errorf("ExpungeMarked took %d snapshots, want none", n)
	}
	if got := count(); got != 2 {
		t.Fatalf("%d messages after ExpungeMarked, want 2", got)
	}

	// Nothing is marked now: Expunge reads and writes nothing, and
	// ExpungeMarked writes and removes nothing.
	before, commits := db.n.Load(), db.Stats().Commits
	if err := s.Expunge(ctx, acct, inbox.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if n, c := db.n.Load()-before, db.Stats().Commits-commits; n != 1 || c != 0 {
		t.Errorf("Expunge of nothing: %d snapshots and %d commits, want 1 and 0", n, c)
	}
	if err := s.ExpungeMarked(ctx, acct, inbox.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 2 {
		t.Fatalf("%d messages after ExpungeMarked of nothing, want 2", got)
	}
	// Another account's folder stays out of reach.
	mustAddUser(t, s, "bob@example.org")
	bob, err := s.Authenticate(ctx, "bob@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ExpungeMarked(ctx, bob.ID, inbox.ID, nil, nil); err == nil {
		t.Fatal("bob's ExpungeMarked of alice's INBOX succeeded")
	}
}
