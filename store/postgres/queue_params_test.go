package postgres

import (
	"context"
	"testing"
	"time"

	"pillarbox/store"
)

// The envelope parameters of an item come back as they were queued, and
// an item without them reads as the zero QueueParams.
func TestQueueParamsRoundTrip(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	want := store.QueueParams{Ret: "HDRS", EnvID: "QQ 314159", Notify: "SUCCESS,DELAY", ORcpt: "rfc822;bob@old.test", RequireTLS: true}
	acct := id(t, db.pool, "INSERT INTO accounts(address, password_hash, created) VALUES ('a@example.org', 'x', 1) RETURNING id")
	blob := queueTestBlob(t, db.pool)
	var with, without int64
	err := db.write(ctx, func(tx *Tx) error {
		it := store.NewQueueItem{BlobID: blob, AccountID: acct, Sender: "a@example.org", Recipient: "bob@remote.test", Domain: "remote.test",
			Created: t0, NextAttempt: t0, Params: want}
		var err error
		if with, err = tx.Enqueue(it); err != nil {
			return err
		}
		it.AccountID, it.Recipient, it.Params = 0, "carol@remote.test", store.QueueParams{}
		without, err = tx.Enqueue(it)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.QueueItem(ctx, with)
	if err != nil || got.Params != want || got.AccountID != acct {
		t.Errorf("item with parameters: %+v, %v; want %+v", got, err, want)
	}
	due, err := db.DueQueueItems(ctx, t0, 10)
	if err != nil || len(due) != 2 || due[0].Params != want || due[1].Params != (store.QueueParams{}) {
		t.Errorf("due items: %+v, %v", due, err)
	}
	if got, err := db.QueueItem(ctx, without); err != nil || got.Params != (store.QueueParams{}) || got.AccountID != 0 {
		t.Errorf("item without parameters: %+v, %v", got, err)
	}
	err = db.write(ctx, func(tx *Tx) error {
		_, err := tx.Enqueue(store.NewQueueItem{BlobID: got.BlobID, Recipient: "d@remote.test", Domain: "remote.test",
			Created: t0, NextAttempt: t0, Params: store.QueueParams{Ret: "BODY"}})
		return err
	})
	if err == nil {
		t.Error("RET=BODY was queued")
	}
}

// Due times keep their milliseconds through the store: a retry one
// second after an attempt at .700 is due at .700, not at the whole
// second before it.
func TestQueueDueTimesInMilliseconds(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	created := time.UnixMilli(1_800_000_000_700)
	ids := queueTestEnqueue(t, db, queueTestBlob(t, db.pool), "remote.test", created, created)
	if err := db.write(ctx, func(tx *Tx) error { return tx.ClaimQueueItem(ids[0], created.Add(time.Second)) }); err != nil {
		t.Fatal(err)
	}
	next, ok, err := db.NextQueueAttempt(ctx, created)
	if err != nil || !ok || !next.Equal(created.Add(time.Second)) {
		t.Fatalf("next attempt %v %v %v, want %v", next, ok, err, created.Add(time.Second))
	}
	for _, at := range []time.Duration{999 * time.Millisecond, time.Second} {
		due, err := db.DueQueueItems(ctx, created.Add(at), 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := at >= time.Second; (len(due) == 1) != want {
			t.Errorf("at +%v: %d items due, want due=%v", at, len(due), want)
		}
	}
	it, err := db.QueueItem(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if !it.Created.Equal(created) || !it.NextAttempt.Equal(created.Add(time.Second)) {
		t.Errorf("item created %v next %v, want %v and +1s", it.Created, it.NextAttempt, created)
	}
}
