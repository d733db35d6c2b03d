package postgres

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"pillarbox/store"
)

// feedNote is what a Follow told.
type feedNote struct {
	kind   string // "mailbox", "queue", "resync"
	id     int64
	modseq uint64
}

// follow runs db.Follow until the test ends and returns what it tells
// after its first note, the Resync of a new connection.
func follow(t *testing.T, db *DB) <-chan feedNote {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	notes := make(chan feedNote, 100)
	done := make(chan error, 1)
	go func() {
		done <- db.Follow(ctx, store.FeedFuncs{
			Mailbox: func(id int64, modseq uint64) { notes <- feedNote{"mailbox", id, modseq} },
			Queue:   func() { notes <- feedNote{kind: "queue"} },
			Resync:  func() { notes <- feedNote{kind: "resync"} },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Follow returned %v, want context.Canceled", err)
		}
	})
	if n := nextNote(t, notes); n.kind != "resync" {
		t.Fatalf("first note %+v, want the resync of a new connection", n)
	}
	return notes
}

// nextNote waits for the feed's next note; the feed is told at once, so
// a few seconds is only a bound for a broken test.
func nextNote(t *testing.T, notes <-chan feedNote) feedNote {
	t.Helper()
	select {
	case n := <-notes:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("the feed told nothing")
		return feedNote{}
	}
}

// A node following the feed is told of another node's commits: one note
// per mailbox and batch, with the HIGHESTMODSEQ the batch left, 0 once
// the mailbox is removed; nothing for a rolled-back batch or a STORE that
// changed no message.
func TestFeedTellsOtherNodesCommits(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	notes := follow(t, b)
	_, mb := msgFixture(t, a, 0)
	want := func(step string, modseq uint64) {
		t.Helper()
		n := nextNote(t, notes)
		if n != (feedNote{"mailbox", mb.ID, modseq}) {
			t.Errorf("%s: told %+v, want mailbox %d at %d", step, n, mb.ID, modseq)
		}
	}
	ctx := context.Background()
	// Two appends of one batch: one note.
	msgWrite(t, a, func(tx *Tx) error { return msgAppendN(tx, mb.ID, 2) })
	m := msgHighestModSeq(t, a, mb.ID)
	want("two appends", m)

	errRollback := errors.New("rolled back")
	if err := a.write(ctx, func(tx *Tx) error {
		if err := msgAppendN(tx, mb.ID, 1); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	msgWrite(t, a, func(tx *Tx) error {
		_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 1, Stop: 2}}, store.FlagsRemove, store.FlagSeen, nil)
		return err
	})
	msgWrite(t, a, func(tx *Tx) error {
		_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 2, Stop: 2}}, store.FlagsAdd, store.FlagSeen, nil)
		return err
	})
	want("a rollback, a STORE of nothing, then \\Seen on one", m+1)

	msgWrite(t, a, func(tx *Tx) error { return tx.DeleteMailbox(mb.ID) })
	want("the mailbox removed", 0)
	select {
	case n := <-notes:
		t.Errorf("told %+v more", n)
	case <-time.After(100 * time.Millisecond):
	}
}

// When the feed's connection breaks, Follow connects again and says
// Resync before it tells anything else: what committed meanwhile was
// not told, and the caller reads it from the store.
func TestFeedResyncsAfterLostConnection(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	notes := follow(t, b)
	_, mb := msgFixture(t, a, 1)
	if n := nextNote(t, notes); n.kind != "mailbox" || n.id != mb.ID {
		t.Fatalf("told %+v, want mailbox %d", n, mb.ID)
	}
	ctx := context.Background()
	var killed int
	if err := a.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`, feedApp).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d feed connections (%v), want 1", killed, err)
	}
	if n := nextNote(t, notes); n.kind != "resync" {
		t.Fatalf("after the connection was lost: %+v, want resync", n)
	}
	msgWrite(t, a, func(tx *Tx) error { return msgAppendN(tx, mb.ID, 1) })
	if n := nextNote(t, notes); n != (feedNote{"mailbox", mb.ID, msgHighestModSeq(t, a, mb.ID)}) {
		t.Errorf("after the new connection: %+v", n)
	}
	msgWrite(t, a, func(tx *Tx) error { return tx.TouchQueue() })
	if n := nextNote(t, notes); n.kind != "queue" {
		t.Errorf("after a queue write: %+v, want queue", n)
	}
}

// A feed connection that stops answering without closing (its server
// process stopped here with SIGSTOP, as a host that went away would
// leave it) is noticed by the feed's check after a quiet while: Follow
// connects again and says Resync.
func TestFeedNoticesSilentConnection(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	b.feedPing, b.feedPingWait = 200*time.Millisecond, 500*time.Millisecond
	notes := follow(t, b)
	var pid int
	if err := a.pool.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`, feedApp).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Skipf("cannot stop the server's process %d: %v", pid, err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	if n := nextNote(t, notes); n.kind != "resync" {
		t.Fatalf("after the connection went silent: %+v, want resync", n)
	}
}
