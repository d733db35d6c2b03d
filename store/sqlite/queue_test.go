package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"pillarbox/store"
	"testing"
	"time"
)

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "q.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	var ids []int64
	var blob int64
	err = db.write(ctx, func(tx *Tx) error {
		var err error
		blob, err = tx.InsertBlob(&store.Blob{Data: []byte("Subject: q\r\n\r\nx\r\n"), MessageID: "q@x", Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		// Due at +2m, +0, +1m, in that order of insertion.
		for i, d := range []time.Duration{2 * time.Minute, 0, time.Minute} {
			id, err := tx.Enqueue(store.NewQueueItem{BlobID: blob, Sender: "a@example.org", Recipient: string(rune('x'+i)) + "@remote.test",
				Domain: "remote.test", Created: t0, NextAttempt: t0.Add(d)})
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
		if err := tx.DeferQueueItem(ids[1], store.QueueAttempt{At: t0, Remote: "mx", Reply: "451 busy"}, t0.Add(10*time.Minute), false); err != nil {
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
	if att, err := db.QueueAttempts(ctx, ids[1]); err != nil || len(att) != 1 || att[0].Reply != "451 busy" || !att[0].At.Equal(t0) {
		t.Errorf("attempts %+v, %v", att, err)
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
	if n, _ := db.CountBlobs(ctx); n != 0 {
		t.Errorf("%d blobs left", n)
	}
	if att, _ := db.QueueAttempts(ctx, ids[1]); len(att) != 0 {
		t.Error("attempts outlive their item")
	}
	err = db.write(ctx, func(tx *Tx) error { return tx.RemoveQueueItem(ids[0]) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing a missing item: %v", err)
	}
	if _, err := db.QueueItem(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reading a missing item: %v", err)
	}
}
