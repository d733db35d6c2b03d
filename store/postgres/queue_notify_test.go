package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// The writes that make items due wake the relays of every node: a
// connection listening on queueChannel hears of them once committed,
// once per transaction; a rolled-back one and the relay's own claims
// and deferrals send nothing.
func TestQueueNotify(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a := openAt(t, d, -1)
	ctx := context.Background()
	listener, err := pgx.Connect(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN "+queueChannel); err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1_800_000_000_000)
	blob := queueTestBlob(t, a.pool)
	ids := queueTestEnqueue(t, a, blob, "remote.test", t0, t0, t0)
	errRollback := errors.New("rolled back")
	for _, w := range []struct {
		name   string
		fn     func(tx *Tx) error
		notify bool
	}{
		{"enqueue of two", nil, true}, // the one above
		{"rolled-back enqueue", func(tx *Tx) error {
			if _, err := tx.Enqueue(store.NewQueueItem{BlobID: blob, Recipient: "r@remote.test", Domain: "remote.test", Created: t0, NextAttempt: t0}); err != nil {
				return err
			}
			return errRollback
		}, false},
		{"claim and deferral", func(tx *Tx) error {
			if err := tx.ClaimQueueItem(ids[0], t0.Add(time.Hour)); err != nil {
				return err
			}
			return tx.DeferQueueItem(ids[0], store.QueueAttempt{At: t0, Reply: "451"}, t0.Add(time.Minute), false)
		}, false},
		{"hold", func(tx *Tx) error { return tx.SetQueueState(ids[1], store.QueueHeld, t0) }, false},
		{"release", func(tx *Tx) error { return tx.SetQueueState(ids[1], store.QueueQueued, t0) }, true},
		{"retry", func(tx *Tx) error { _, err := tx.RetryQueueItems(0, t0); return err }, true},
		{"touch", func(tx *Tx) error { return tx.TouchQueue() }, true},
	} {
		if w.fn != nil {
			if err := a.write(ctx, w.fn); err != nil && !errors.Is(err, errRollback) {
				t.Fatalf("%s: %v", w.name, err)
			}
		}
		// A marker after the write: what comes before it is the write's.
		exec(t, a.pool, `SELECT pg_notify($1, 'marker')`, queueChannel)
		var got []string
		for {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			n, err := listener.WaitForNotification(wctx)
			cancel()
			if err != nil {
				t.Fatalf("%s: waiting for the notification: %v", w.name, err)
			}
			if n.Channel != queueChannel {
				t.Errorf("%s: notification on %q", w.name, n.Channel)
			}
			if n.Payload == "marker" {
				break
			}
			got = append(got, n.Payload)
		}
		if want := map[bool]int{true: 1, false: 0}[w.notify]; len(got) != want {
			t.Errorf("%s: %d notifications %q, want %d", w.name, len(got), got, want)
		}
	}
}
