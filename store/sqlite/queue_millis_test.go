package sqlite

import (
	"context"
	"path/filepath"
	"pillarbox/store"
	"testing"
	"time"
)

// Due times keep their milliseconds through the store: a retry one
// second after an attempt at .700 is due at .700, not at the whole
// second before it.
func TestQueueDueTimesInMilliseconds(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	created := time.UnixMilli(1_800_000_000_700)
	var id int64
	err := db.write(ctx, func(tx *Tx) error {
		blob, err := tx.InsertBlob(&store.Blob{Data: []byte("Subject: q\r\n\r\nx\r\n"), MessageID: "q@x", Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		id, err = tx.Enqueue(store.NewQueueItem{BlobID: blob, Sender: "a@example.org", Recipient: "b@remote.test",
			Domain: "remote.test", Created: created, NextAttempt: created})
		if err != nil {
			return err
		}
		return tx.ClaimQueueItem(id, created.Add(time.Second))
	})
	if err != nil {
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
	it, err := db.QueueItem(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !it.Created.Equal(created) || !it.NextAttempt.Equal(created.Add(time.Second)) {
		t.Errorf("item created %v next %v, want %v and +1s", it.Created, it.NextAttempt, created)
	}
}

// Migration 7 turns the seconds of existing queue rows into
// milliseconds and keeps every id and every other column.
func TestMigrationQueueMillis(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	raw := rawAtVersion(t, path, 6)
	_, err := raw.Exec(`
		INSERT INTO accounts(id, address, password_hash, created) VALUES (7, 'a@x.org', 'h', 1);
		INSERT INTO blobs(id, size, envelope, structure, data) VALUES (5, 3, '{}', '{}', 'abc');
		INSERT INTO queue(id, blob_id, account_id, sender, recipient, domain, state, attempts, created, next_attempt, last_reply, warned)
			VALUES (21, 5, 7, 'a@x.org', 'r@y.org', 'y.org', 'held', 3, 1800000000, 1800000600, '451 busy', 1);
		INSERT INTO queue_attempts(queue_id, at, remote, reply) VALUES (21, 1800000300, 'mx', '451 busy');`)
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	it, err := db.QueueItem(ctx, 21)
	if err != nil {
		t.Fatal(err)
	}
	want := store.QueueItem{ID: 21, BlobID: 5, AccountID: 7, Sender: "a@x.org", Recipient: "r@y.org", Domain: "y.org", State: store.QueueHeld,
		Attempts: 3, Created: time.Unix(1800000000, 0), NextAttempt: time.Unix(1800000600, 0), LastReply: "451 busy", Warned: true, Size: 3}
	if !it.Created.Equal(want.Created) || !it.NextAttempt.Equal(want.NextAttempt) {
		t.Errorf("created %v next %v, want %v and %v", it.Created, it.NextAttempt, want.Created, want.NextAttempt)
	}
	it.Created, it.NextAttempt = want.Created, want.NextAttempt
	if it != want {
		t.Errorf("item after migration:\n%+v\nwant\n%+v", it, want)
	}
	attempts, err := db.QueueAttempts(ctx, 21)
	if err != nil || len(attempts) != 1 || !attempts[0].At.Equal(time.Unix(1800000300, 0)) {
		t.Errorf("attempts %+v %v", attempts, err)
	}
}
