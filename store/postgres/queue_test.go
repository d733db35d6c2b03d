package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"pillarbox/store"
)

// queueTestBlob stores a 17-byte message with Message-ID q@x, which the
// queue's items refer to.
func queueTestBlob(t *testing.T, p *pgxpool.Pool) int64 {
	t.Helper()
	return id(t, p, `INSERT INTO blobs(size, message_id, envelope, structure, data)
		VALUES (17, 'q@x', '{}', '{}', $1) RETURNING id`, []byte("Subject: q\r\n\r\nx\r\n"))
}

// queueTestEnqueue queues one item per next attempt, in that order, and
// returns their ids.
func queueTestEnqueue(t *testing.T, db *DB, blob int64, domain string, created time.Time, next ...time.Time) []int64 {
	t.Helper()
	var ids []int64
	err := db.write(context.Background(), func(tx *Tx) error {
		ids = ids[:0]
		for i, n := range next {
			id, err := tx.Enqueue(store.NewQueueItem{BlobID: blob, Sender: "a@example.org",
				Recipient: string(rune('x'+i%3)) + "@" + domain, Domain: domain, Created: created, NextAttempt: n})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	blob := queueTestBlob(t, db.pool)
	// Due at +2m, +0, +1m, in that order of insertion.
	ids := queueTestEnqueue(t, db, blob, "remote.test", t0, t0.Add(2*time.Minute), t0, t0.Add(time.Minute))

	due, err := db.DueQueueItems(ctx, t0.Add(time.Minute), 10)
	if err != nil || len(due) != 2 || due[0].ID != ids[1] || due[1].ID != ids[2] {
		t.Fatalf("due %+v, %v", due, err)
	}
	if due[0].MessageID != "q@x" || due[0].Size != 17 || due[0].AccountID != 0 || due[0].State != store.QueueQueued {
		t.Errorf("item %+v", due[0])
	}
	if next, ok, err := db.NextQueueAttempt(ctx, t0); err != nil || !ok || !next.Equal(t0.Add(time.Minute)) {
		t.Errorf("next after t0: %v %v %v", next, ok, err)
	}
	if _, ok, _ := db.NextQueueAttempt(ctx, t0.Add(time.Hour)); ok {
		t.Error("a next attempt after the last one")
	}

	err = db.write(ctx, func(tx *Tx) error {
		if err := tx.ClaimQueueItem(ids[1], t0.Add(5*time.Minute)); err != nil {
			return err
		}
		if err := tx.DeferQueueItem(ids[1], store.QueueAttempt{At: t0, Remote: "mx", Reply: "451 busy", TLS: "none"}, t0.Add(10*time.Minute), false); err != nil {
			return err
		}
		if err := tx.SetQueueState(ids[2], store.QueueHeld, t0); err != nil {
			return err
		}
		return tx.TouchQueue()
	})
	if err != nil {
		t.Fatal(err)
	}
	it, err := db.QueueItem(ctx, ids[1])
	if err != nil || it.Attempts != 1 || !it.NextAttempt.Equal(t0.Add(10*time.Minute)) || it.LastReply != "451 busy" || it.Warned {
		t.Errorf("deferred item %+v, %v", it, err)
	}
	if due, _ := db.DueQueueItems(ctx, t0.Add(time.Hour), 10); len(due) != 2 {
		t.Errorf("%d due, want 2 (one held)", len(due))
	}
	if g, err := db.QueueGeneration(ctx); err != nil || g != 1 {
		t.Errorf("generation %d, %v", g, err)
	}
	if att, err := db.QueueAttempts(ctx, ids[1]); err != nil || len(att) != 1 || att[0].Reply != "451 busy" ||
		!att[0].At.Equal(t0) || att[0].Remote != "mx" || att[0].TLS != "none" {
		t.Errorf("attempts %+v, %v", att, err)
	}
	if all, err := db.QueueItems(ctx); err != nil || len(all) != 3 || all[0].ID != ids[0] || all[1].ID != ids[1] ||
		all[2].ID != ids[2] || all[2].State != store.QueueHeld {
		t.Errorf("all items %+v, %v", all, err)
	}

	// Removing the rows releases the blob with the last one, attempts
	// included.
	err = db.write(ctx, func(tx *Tx) error {
		for _, id := range ids {
			if err := tx.RemoveQueueItem(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var blobs int
	query1(t, db.pool, "SELECT count(*) FROM blobs", &blobs)
	if blobs != 0 {
		t.Errorf("%d blobs left", blobs)
	}
	if att, _ := db.QueueAttempts(ctx, ids[1]); len(att) != 0 {
		t.Error("attempts outlive their item")
	}
	for name, f := range map[string]func(tx *Tx) error{
		"remove": func(tx *Tx) error { return tx.RemoveQueueItem(ids[0]) },
		"claim":  func(tx *Tx) error { return tx.ClaimQueueItem(ids[0], t0) },
		"defer":  func(tx *Tx) error { return tx.DeferQueueItem(ids[0], store.QueueAttempt{}, t0, false) },
		"hold":   func(tx *Tx) error { return tx.SetQueueState(ids[0], store.QueueHeld, t0) },
		"read":   func(tx *Tx) error { _, err := tx.QueueItem(ids[0]); return err },
	} {
		if err := db.write(ctx, f); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a missing item: %v", name, err)
		}
	}
	if _, err := db.QueueItem(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reading a missing item: %v", err)
	}
	if err := db.write(ctx, func(tx *Tx) error { return tx.SetQueueState(ids[0], "paused", t0) }); err == nil {
		t.Error("an unknown state was set")
	}
}

// Releasing a held item makes it due at once, or keeps an earlier due
// time; holding it keeps its due time.
func TestQueueHoldAndRelease(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_500)
	blob := queueTestBlob(t, db.pool)
	ids := queueTestEnqueue(t, db, blob, "remote.test", t0, t0.Add(time.Hour), t0.Add(-time.Minute))
	setState := func(state string, now time.Time) {
		t.Helper()
		err := db.write(ctx, func(tx *Tx) error {
			for _, id := range ids {
				if err := tx.SetQueueState(id, state, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setState(store.QueueHeld, t0)
	if a, _ := db.QueueItem(ctx, ids[0]); a.State != store.QueueHeld || !a.NextAttempt.Equal(t0.Add(time.Hour)) {
		t.Errorf("held item %+v", a)
	}
	setState(store.QueueQueued, t0)
	a, _ := db.QueueItem(ctx, ids[0])
	b, _ := db.QueueItem(ctx, ids[1])
	if a.State != store.QueueQueued || !a.NextAttempt.Equal(t0) || !b.NextAttempt.Equal(t0.Add(-time.Minute)) {
		t.Errorf("released items %+v, %+v", a, b)
	}
}

// A manual retry makes queued items due now and counts the try it asks
// for as a manual one, once, so that BackoffStep stays; held items are
// left alone (mailbox.TestQueueRetryKeepsBackoff, at the store).
func TestQueueRetry(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_000)
	blob := queueTestBlob(t, db.pool)
	ids := queueTestEnqueue(t, db, blob, "remote.test", t0, t0, t0, t0)
	write := func(f func(tx *Tx) error) {
		t.Helper()
		if err := db.write(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	write(func(tx *Tx) error {
		for range 2 {
			if err := tx.ClaimQueueItem(ids[0], t0.Add(time.Hour)); err != nil {
				return err
			}
		}
		return tx.SetQueueState(ids[1], store.QueueHeld, t0)
	})
	retry := func(id int64) int {
		t.Helper()
		var n int
		write(func(tx *Tx) error {
			var err error
			n, err = tx.RetryQueueItems(id, t0.Add(time.Minute))
			return err
		})
		return n
	}
	if n := retry(ids[0]); n != 1 {
		t.Errorf("retry of one item changed %d", n)
	}
	it, _ := db.QueueItem(ctx, ids[0])
	if it.Attempts != 2 || it.BackoffStep() != 1 || !it.NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Errorf("after retry: %+v, step %d", it, it.BackoffStep())
	}
	// Every queued item (the held one is left alone); nothing more is
	// given back to the one already due.
	if n := retry(0); n != 2 {
		t.Errorf("retry of all changed %d, want 2", n)
	}
	if it, _ := db.QueueItem(ctx, ids[0]); it.Attempts != 2 || it.BackoffStep() != 1 {
		t.Errorf("after a second retry: %+v", it)
	}
	if it, _ := db.QueueItem(ctx, ids[1]); it.State != store.QueueHeld || !it.NextAttempt.Equal(t0) {
		t.Errorf("held item after retry: %+v", it)
	}
	// An item with no tries made has none to give back.
	if it, _ := db.QueueItem(ctx, ids[2]); it.ManualRetries != 0 || !it.NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Errorf("untried item after retry: %+v", it)
	}
	if n := retry(ids[1]); n != 0 {
		t.Errorf("retry of a held item changed %d", n)
	}
}

// A deferral keeps the warned flag once set, and the state.
func TestQueueDeferKeepsWarned(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	ids := queueTestEnqueue(t, db, queueTestBlob(t, db.pool), "remote.test", t0, t0)
	for i, warned := range []bool{true, false} {
		err := db.write(ctx, func(tx *Tx) error {
			return tx.DeferQueueItem(ids[0], store.QueueAttempt{At: t0, Reply: "451"}, t0.Add(time.Duration(i+1)*time.Hour), warned)
		})
		if err != nil {
			t.Fatal(err)
		}
		if it, _ := db.QueueItem(ctx, ids[0]); !it.Warned {
			t.Errorf("deferral %d: not warned", i)
		}
	}
	if att, _ := db.QueueAttempts(ctx, ids[0]); len(att) != 2 {
		t.Errorf("%d attempts, want 2", len(att))
	}
}

func TestQueueCounts(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	if c, err := db.QueueCounts(ctx); err != nil || c != (store.QueueCounts{}) {
		t.Fatalf("empty queue: %+v, %v", c, err)
	}
	t0 := time.UnixMilli(1_800_000_000_123)
	blob := queueTestBlob(t, db.pool)
	var ids []int64
	for i := range 4 {
		ids = append(ids, queueTestEnqueue(t, db, blob, "remote.test", t0.Add(time.Duration(i)*time.Minute), t0)...)
	}
	// The oldest is held: the oldest queued one is the second.
	if err := db.write(ctx, func(tx *Tx) error { return tx.SetQueueState(ids[0], store.QueueHeld, t0) }); err != nil {
		t.Fatal(err)
	}
	c, err := db.QueueCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.QueueCounts{Queued: 3, Held: 1, OldestQueued: t0.Add(time.Minute)}); c.Queued != want.Queued || c.Held != want.Held || !c.OldestQueued.Equal(want.OldestQueued) {
		t.Fatalf("counts %+v, want %+v", c, want)
	}
}
