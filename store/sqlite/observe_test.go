package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"pillarbox/store"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckWritable(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "h.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 { // the first check inserts the row, the second updates it
		if err := db.CheckWritable(ctx); err != nil {
			t.Fatalf("open store: %v", err)
		}
	}
	var v int64
	if err := db.rdb.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = ?`, healthRow).Scan(&v); err != nil || v == 0 {
		t.Fatalf("health row %d, %v: the check wrote nothing", v, err)
	}
	db.Close()
	if err := db.CheckWritable(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("closed store: %v, want ErrClosed", err)
	}
}

// A store whose page limit is reached cannot take the check's write:
// CheckWritable must report that rather than commit an empty
// transaction.
func TestCheckWritableFull(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := db.rdb.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path, Options{MaxPages: pages + 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Fill the pages up to the limit with rows of shrinking size, down
	// to rows as small as the health row, so that it no longer fits.
	ctx := context.Background()
	i := 0
	for _, size := range []int{2000, 200, 20, 1} {
		for {
			i++
			name := fmt.Sprintf("%0*d", size, i)
			err := db.write(ctx, func(tx *Tx) error {
				_, err := tx.exec(`INSERT INTO counters(name, value) VALUES (?, 0)`, name)
				return err
			})
			if errors.Is(err, store.ErrFull) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.CheckWritable(ctx); !errors.Is(err, store.ErrFull) {
		t.Fatalf("full store: %v, want ErrFull", err)
	}
}

func TestObserveCommit(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var batches []int
	var took []time.Duration
	db, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{ObserveCommit: func(n int, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		batches, took = append(batches, n), append(took, d)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A write that fails alone commits nothing and is not observed.
	if err := db.write(context.Background(), func(*Tx) error { return errors.New("no") }); err == nil {
		t.Fatal("failing write succeeded")
	}
	if err := db.CheckWritable(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(batches) != 1 || batches[0] != 1 || took[0] <= 0 {
		t.Fatalf("observed batches %v took %v, want one batch of 1 with a duration", batches, took)
	}
}

func TestQueueCounts(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "q.db"), Options{IndexDelay: time.Hour}) // the indexer must not empty the backlog before it is read
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if c, err := db.QueueCounts(ctx); err != nil || c != (store.QueueCounts{}) {
		t.Fatalf("empty queue: %+v, %v", c, err)
	}
	t0 := time.UnixMilli(1_800_000_000_123)
	err = db.write(ctx, func(tx *Tx) error {
		blob, err := tx.InsertBlob(&store.Blob{Data: []byte("Subject: q\r\n\r\nx\r\n"), MessageID: "q@x", Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		var ids []int64
		for i := range 4 {
			id, err := tx.Enqueue(store.NewQueueItem{BlobID: blob, Sender: "a@example.org", Recipient: string(rune('w'+i)) + "@remote.test",
				Domain: "remote.test", Created: t0.Add(time.Duration(i) * time.Minute), NextAttempt: t0})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		// The oldest is held: the oldest queued one is the second.
		return tx.SetQueueState(ids[0], store.QueueHeld, t0)
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.QueueCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.QueueCounts{Queued: 3, Held: 1, OldestQueued: t0.Add(time.Minute)}); c.Queued != want.Queued || c.Held != want.Held || !c.OldestQueued.Equal(want.OldestQueued) {
		t.Fatalf("counts %+v, want %+v", c, want)
	}
	// The one stored message's text waits for the indexer until a flush.
	if n, err := db.IndexBacklog(ctx); err != nil || n != 1 {
		t.Fatalf("index backlog %d, %v; want 1", n, err)
	}
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := db.IndexBacklog(ctx); err != nil || n != 0 {
		t.Fatalf("index backlog after a flush %d, %v; want 0", n, err)
	}
}

// The scrape-time queries must not read the queue table row by row: a
// backlog of a million items is when they matter most.
func TestObserveQueryPlans(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "p.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{queueCountsQuery, indexBacklogQuery} {
		rows, err := db.rdb.Query("EXPLAIN QUERY PLAN " + q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, p := range plan {
			if strings.HasPrefix(p, "SCAN queue") && !strings.Contains(p, "COVERING INDEX") {
				t.Errorf("%s\nplan %q reads the queue table", q, plan)
			}
			if strings.Contains(p, "TEMP B-TREE") {
				t.Errorf("%s\nplan %q sorts", q, plan)
			}
		}
		t.Logf("%q", plan)
	}
}
