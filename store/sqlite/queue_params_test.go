package sqlite

import (
	"context"
	"path/filepath"
	"pillarbox/store"
	"testing"
	"time"
)

// The envelope parameters of an item come back as they were queued, and
// an item without them reads as the zero QueueParams.
func TestQueueParamsRoundTrip(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "q.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	want := store.QueueParams{Ret: "HDRS", EnvID: "QQ 314159", Notify: "SUCCESS,DELAY", ORcpt: "rfc822;bob@old.test", RequireTLS: true}
	var with, without int64
	err = db.write(ctx, func(tx *Tx) error {
		blob, err := tx.InsertBlob(&store.Blob{Data: []byte("Subject: q\r\n\r\nx\r\n"), MessageID: "q@x", Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		it := store.NewQueueItem{BlobID: blob, Sender: "a@example.org", Recipient: "bob@remote.test", Domain: "remote.test",
			Created: t0, NextAttempt: t0, Params: want}
		if with, err = tx.Enqueue(it); err != nil {
			return err
		}
		it.Recipient, it.Params = "carol@remote.test", store.QueueParams{}
		without, err = tx.Enqueue(it)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.QueueItem(ctx, with)
	if err != nil || got.Params != want {
		t.Errorf("item with parameters: %+v, %v; want %+v", got.Params, err, want)
	}
	due, err := db.DueQueueItems(ctx, t0, 10)
	if err != nil || len(due) != 2 || due[0].Params != want || due[1].Params != (store.QueueParams{}) {
		t.Errorf("due items: %+v, %v", due, err)
	}
	if got, err := db.QueueItem(ctx, without); err != nil || got.Params != (store.QueueParams{}) {
		t.Errorf("item without parameters: %+v, %v", got.Params, err)
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

// A version 5 database with a queued item opens at version 6 with the
// item intact and no envelope parameters.
func TestMigrationToQueueParams(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	raw := rawAtVersion(t, path, 5)
	_, err := raw.Exec(`
		INSERT INTO blobs(id, size, message_id, envelope, structure, data) VALUES (1, 3, 'm@x', '{}', '{}', 'x\r\n');
		INSERT INTO queue(id, blob_id, sender, recipient, domain, created, next_attempt)
			VALUES (7, 1, 'a@example.org', 'bob@remote.test', 'remote.test', 100, 100);`)
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.QueueItem(context.Background(), 7)
	if err != nil || it.Recipient != "bob@remote.test" || it.Params != (store.QueueParams{}) {
		t.Fatalf("item after migration: %+v, %v", it, err)
	}
}
