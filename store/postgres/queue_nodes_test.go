package postgres

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// queueTestClaim claims items in one write as the relay does
// (mailbox.ClaimQueueItems): an item refused with ErrNotFound is left
// out. It returns the ids claimed.
func queueTestClaim(t *testing.T, db *DB, items []store.QueueItem, next time.Time) []int64 {
	t.Helper()
	var ok []int64
	err := db.write(context.Background(), func(tx *Tx) error {
		ok = ok[:0]
		for _, it := range items {
			err := tx.ClaimQueueItem(it.ID, next)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			ok = append(ok, it.ID)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	return ok
}

// Two nodes, each with two claimers, read the due items and claim them
// at the same moment, over and over: every item is claimed exactly once
// within its lease, as the attempts in the database agree.
func TestQueueTwoNodesNeverClaimOneItem(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	t0 := time.UnixMilli(1_800_000_000_000)
	lease := t0.Add(time.Hour)
	blob := queueTestBlob(t, a.pool)
	var mu sync.Mutex
	by := make(map[int64]int) // item -> the claimer that got it
	refused := 0
	for round := range 10 {
		nodes := []*DB{a, b}
		nexts := make([]time.Time, 40)
		for i := range nexts {
			nexts[i] = t0
		}
		ids := queueTestEnqueue(t, nodes[round%2], blob, "remote.test", t0, nexts...)
		var wg sync.WaitGroup
		for c := range 4 {
			db := nodes[c%2]
			wg.Go(func() {
				for {
					due, err := db.DueQueueItems(context.Background(), t0, 5)
					if err != nil {
						t.Error(err)
						return
					}
					if len(due) == 0 {
						return
					}
					got := queueTestClaim(t, db, due, lease)
					mu.Lock()
					refused += len(due) - len(got)
					for _, id := range got {
						if prev, ok := by[id]; ok {
							t.Errorf("item %d claimed by claimer %d and again by %d within its lease", id, prev, c)
						}
						by[id] = c
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			if _, ok := by[id]; !ok {
				t.Errorf("round %d: item %d never claimed", round, id)
			}
			it, err := a.QueueItem(context.Background(), id)
			if err != nil || it.Attempts != 1 || !it.NextAttempt.Equal(lease) {
				t.Errorf("round %d: item %+v, %v; want one attempt and the lease", round, it, err)
			}
		}
	}
	t.Logf("%d claims refused as another's", refused)
}

// A node that claims an item and dies leaves it to the others at the
// lease's end, not before; a node that read the item as due before the
// claim cannot claim it too.
func TestQueueDeadNodeLeaseExpires(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b, c := openAt(t, d, -1), openAt(t, d, -1), openAt(t, d, -1)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_000)
	ids := queueTestEnqueue(t, a, queueTestBlob(t, a.pool), "remote.test", t0, t0)
	dueA, err := a.DueQueueItems(ctx, t0, 10)
	if err != nil || len(dueA) != 1 {
		t.Fatalf("due on a: %+v, %v", dueA, err)
	}
	dueC, err := c.DueDomainQueueItems(ctx, "remote.test", t0, 10)
	if err != nil || len(dueC) != 1 {
		t.Fatalf("due on c: %+v, %v", dueC, err)
	}
	lease := t0.Add(5 * time.Minute)
	if got := queueTestClaim(t, a, dueA, lease); len(got) != 1 {
		t.Fatalf("a claimed %v", got)
	}
	if got := queueTestClaim(t, c, dueC, t0.Add(time.Millisecond).Add(5*time.Minute)); len(got) != 0 {
		t.Errorf("c claimed %v, which a holds", got)
	}
	a.Close() // dies mid-attempt: the item is neither deferred nor removed

	if due, _ := b.DueQueueItems(ctx, lease.Add(-time.Millisecond), 10); len(due) != 0 {
		t.Errorf("due on b before the lease ends: %+v", due)
	}
	if next, ok, err := b.NextQueueAttempt(ctx, t0); err != nil || !ok || !next.Equal(lease) {
		t.Errorf("b's next attempt %v %v %v, want the lease's end %v", next, ok, err, lease)
	}
	due, err := b.DueQueueItems(ctx, lease, 10)
	if err != nil || len(due) != 1 || due[0].ID != ids[0] {
		t.Fatalf("due on b at the lease's end: %+v, %v", due, err)
	}
	if got := queueTestClaim(t, b, due, lease.Add(10*time.Minute)); len(got) != 1 {
		t.Fatalf("b claimed %v", got)
	}
	if it, _ := b.QueueItem(ctx, ids[0]); it.Attempts != 2 || !it.NextAttempt.Equal(lease.Add(10*time.Minute)) {
		t.Errorf("item after b's claim: %+v", it)
	}
	// c's read is older still: refused again.
	if got := queueTestClaim(t, c, dueC, lease.Add(time.Hour)); len(got) != 0 {
		t.Errorf("c claimed %v with a read from before two claims", got)
	}
}

// A claim does not wait for a row another transaction holds (which would
// stall every write of the node): it is refused at once, and the item
// is claimed once the lock is gone.
func TestQueueClaimSkipsLockedItem(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_000)
	ids := queueTestEnqueue(t, a, queueTestBlob(t, a.pool), "remote.test", t0, t0)
	due, err := a.DueQueueItems(ctx, t0, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due %+v, %v", due, err)
	}
	other, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	if _, err := other.Exec(ctx, `SELECT 1 FROM queue WHERE id = $1 FOR UPDATE`, ids[0]); err != nil {
		t.Fatal(err)
	}
	claimed := make(chan []int64, 1)
	go func() { claimed <- queueTestClaim(t, a, due, t0.Add(time.Hour)) }()
	select {
	case got := <-claimed:
		if len(got) != 0 {
			t.Errorf("claimed %v under another's lock", got)
		}
	case <-time.After(5 * time.Second):
		t.Error("the claim waits for another's lock")
		other.Rollback(ctx)
		<-claimed
	}
	if err := other.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		t.Fatal(err)
	}
	due, _ = a.DueQueueItems(ctx, t0, 10)
	if got := queueTestClaim(t, a, due, t0.Add(time.Hour)); len(got) != 1 {
		t.Errorf("claimed %v once the lock was gone", got)
	}
}

// A claim on a node that has not read the item as due (an operator's
// tool, a test) is unconditional, as in the SQLite store; one that has
// read it is refused once the item changed, whoever changed it.
func TestQueueClaimAfterChange(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_000)
	ids := queueTestEnqueue(t, db, queueTestBlob(t, db.pool), "remote.test", t0, t0, t0.Add(time.Hour))
	due, err := db.DueQueueItems(ctx, t0, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due %+v, %v", due, err)
	}
	err = db.write(ctx, func(tx *Tx) error {
		return tx.DeferQueueItem(ids[0], store.QueueAttempt{At: t0, Reply: "451"}, t0.Add(time.Minute), false)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := queueTestClaim(t, db, due, t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("claimed %v after a deferral since the read", got)
	}
	if got := queueTestClaim(t, db, []store.QueueItem{{ID: ids[1]}}, t0.Add(time.Hour)); len(got) != 1 {
		t.Errorf("an unread item: claimed %v", got)
	}
}

// A queue item read in a transaction stays there until the commit: a
// node removing it meanwhile waits, and the reader's removal succeeds.
func TestQueueItemReadIsLocked(t *testing.T) {
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	ctx := context.Background()
	blob := queueTestBlob(t, a.pool)
	now := time.UnixMilli(1_800_000_000_000)
	id := queueTestEnqueue(t, a, blob, "example.net", now, now)[0]
	removed := make(chan error, 1)
	err := a.write(ctx, func(tx *Tx) error {
		if _, err := tx.QueueItem(id); err != nil {
			return err
		}
		go func() {
			removed <- b.write(ctx, func(tx *Tx) error { return tx.RemoveQueueItem(id) })
		}()
		// b's removal waits for this transaction's lock on the row.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var waiting int
			if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				return err
			}
			if waiting > 0 {
				break
			}
			select {
			case err := <-removed:
				removed <- errors.New("answered before the commit")
				t.Errorf("node b removed the item meanwhile: %v", err)
				return nil
			default:
			}
			if time.Now().After(deadline) {
				t.Error("node b's removal neither waited nor ended")
				return nil
			}
			runtime.Gosched()
		}
		return tx.RemoveQueueItem(id)
	})
	if err != nil {
		t.Fatalf("remove after reading: %v", err)
	}
	if err := <-removed; !errors.Is(err, store.ErrNotFound) {
		t.Errorf("node b's removal after the commit: %v, want ErrNotFound", err)
	}
}

// A node renews the lease of its own claim only: once its lease ran out
// and another node claimed the item, its renewal (with the token of its
// old claim) finds nothing, and the new claim stands.
func TestQueueRenewOwnClaimOnly(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	t0 := time.UnixMilli(1_800_000_000_000)
	blob := queueTestBlob(t, a.pool)
	id := queueTestEnqueue(t, a, blob, "remote.test", t0, t0)[0]
	renew := func(db *DB, attempts int, from, to time.Time) error {
		return db.write(context.Background(), func(tx *Tx) error { return tx.RenewQueueLease(id, attempts, from, to) })
	}
	due, err := a.DueQueueItems(context.Background(), t0, 5)
	if err != nil || len(due) != 1 {
		t.Fatalf("due: %v, %v", due, err)
	}
	lease := t0.Add(time.Minute)
	if got := queueTestClaim(t, a, due, lease); len(got) != 1 {
		t.Fatal("A did not claim the item")
	}
	// A renews: twice, each from where the last left it.
	if err := renew(a, 1, lease, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := renew(a, 1, lease, t0.Add(3*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("renewal from a lease that was renewed since: %v, want ErrNotFound", err)
	}
	// A stops renewing; at the lease's end B claims the item.
	end := t0.Add(2 * time.Minute)
	due, err = b.DueQueueItems(context.Background(), end, 5)
	if err != nil || len(due) != 1 {
		t.Fatalf("due for B at the lease's end: %v, %v", due, err)
	}
	if got := queueTestClaim(t, b, due, end.Add(time.Minute)); len(got) != 1 {
		t.Fatal("B did not claim the item")
	}
	if err := renew(a, 1, end, end.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("A's renewal after B's claim: %v, want ErrNotFound", err)
	}
	it, err := a.QueueItem(context.Background(), id)
	if err != nil || it.Attempts != 2 || !it.NextAttempt.Equal(end.Add(time.Minute)) {
		t.Errorf("item %+v (%v), want B's claim: 2 attempts, due at %v", it, err, end.Add(time.Minute))
	}
}
