package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"pillarbox/store"
	"testing"
	"time"
)

func ftsMatches(t *testing.T, db *DB, q string) []int64 {
	t.Helper()
	rows, err := db.rdb.Query(`SELECT docid FROM blob_text WHERE blob_text MATCH ? ORDER BY docid`, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

func insertTexts(t *testing.T, db *DB, bodies ...string) []int64 {
	t.Helper()
	var ids []int64
	err := db.write(context.Background(), func(tx *Tx) error {
		for _, b := range bodies {
			id, err := tx.InsertBlob(&store.Blob{Data: []byte("Subject: x\n\n" + b), Envelope: []byte("{}"), Structure: []byte("{}"),
				HeaderText: "Subject: x\n", BodyText: b})
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

func countPending(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.rdb.QueryRow(`SELECT count(*) FROM blob_text_pending`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFlushIndexMakesTextSearchable(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	ids := insertTexts(t, db, "a zebra crossing", "no stripes here", "zebra again")
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	got := ftsMatches(t, db, "zebra")
	if len(got) != 2 || got[0] != ids[0] || got[1] != ids[2] {
		t.Fatalf("zebra matches %v, want %v and %v", got, ids[0], ids[2])
	}
	if n := countPending(t, db); n != 0 {
		t.Fatalf("%d texts still pending after FlushIndex", n)
	}
}

func TestIndexerBatchesAndCatchesUpAtOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Texts left pending, as a crash may leave them...
	db.stopIndexer()
	insertTexts(t, db, "okapi one", "okapi two")
	if n := countPending(t, db); n != 2 {
		t.Fatalf("%d pending, want 2", n)
	}
	db.Close()
	// ...are indexed by the indexer itself when the store opens again.
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for countPending(t, db) != 0 {
		select {
		case <-deadline:
			t.Fatal("pending texts not indexed after reopening")
		case <-tick.C:
		}
	}
	if got := ftsMatches(t, db, "okapi"); len(got) != 2 {
		t.Fatalf("okapi matches %v after reopening", got)
	}
}

// TestIndexerRunsWhileWritesGoOn: a pending text waits for the indexer at
// most IndexDelay from its arrival, however many writes follow it before
// indexAfterRows pile up; later texts do not push its turn back.
func TestIndexerRunsWhileWritesGoOn(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{IndexDelay: 50 * time.Millisecond})
	first := insertTexts(t, db, "narwhal tusk")[0]
	began := time.Now()
	// Each write takes well under the delay (a commit and an fsync), and
	// their number stays below the row threshold.
	for i := 1; i < indexAfterRows-1; i++ {
		if got := ftsMatches(t, db, "narwhal"); len(got) == 1 && got[0] == first {
			return
		}
		insertTexts(t, db, fmt.Sprint("filler ", i))
	}
	t.Fatalf("the first text was still not indexed %v after it arrived, with writes every %v",
		time.Since(began), time.Since(began)/time.Duration(indexAfterRows-2))
}

// TestIndexRunWaitsForATick: a run indexes only the texts that were
// pending at the tick before, unless more than indexAfterRows are pending;
// a message expunged before its turn never reaches the index.
func TestIndexRunWaitsForATick(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{IndexDelay: 1 << 40})
	// The test runs the indexer itself: past indexAfterRows texts the
	// background one would be kicked and race its runs.
	db.stopIndexer()
	ctx := context.Background()
	segments := func() int { return countRows(t, db, "blob_text_segdir") }

	mb, blobs := inboxWith(t, db, "ephemeral mayfly")
	mark, err := db.indexRun(ctx, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if mark != blobs[0] || countPending(t, db) != 1 {
		t.Fatalf("first tick: mark %d (want %d), %d pending (want 1)", mark, blobs[0], countPending(t, db))
	}
	// Expunged before the next tick: its removal needs nothing from FTS4.
	if err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(mb, []uint32{1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	kept := insertTexts(t, db, "durable tortoise")
	if mark, err = db.indexRun(ctx, mark, true); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "blobs"); n != 1 {
		t.Fatalf("%d blobs after the second tick, want the tortoise's alone", n)
	}
	if n := segments(); n != 0 {
		t.Fatalf("the index has %d segments, want none: the mayfly went before its turn and the tortoise's turn is the next tick", n)
	}
	// A run that is no tick indexes nothing new...
	if _, err := db.indexRun(ctx, mark, false); err != nil {
		t.Fatal(err)
	}
	if countPending(t, db) != 1 {
		t.Fatal("a run between ticks indexed a text")
	}
	// ...and the next tick indexes what the one before found pending.
	if _, err := db.indexRun(ctx, mark, true); err != nil {
		t.Fatal(err)
	}
	if got := ftsMatches(t, db, "tortoise"); len(got) != 1 || got[0] != kept[0] || countPending(t, db) != 0 {
		t.Fatalf("tortoise matches %v, %d pending; want %v and none", got, countPending(t, db), kept)
	}

	// Past indexAfterRows pending texts, any run indexes them all.
	texts := make([]string, indexAfterRows+1)
	for i := range texts {
		texts[i] = fmt.Sprint("swarm ", i)
	}
	insertTexts(t, db, texts...)
	if _, err := db.indexRun(ctx, 0, false); err != nil {
		t.Fatal(err)
	}
	if n := countPending(t, db); n != 0 {
		t.Fatalf("%d texts pending after a run with more than indexAfterRows of them", n)
	}
}

// TestIndexerTriesAgainAfterAFailedRun: a run that fails (a full disk,
// say) is tried again after the delay, with no new write to start it:
// the texts get indexed all the same.
func TestIndexerTriesAgainAfterAFailedRun(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{IndexDelay: 10 * time.Millisecond})
	db.idxFail.Store(2)
	ids := insertTexts(t, db, "a resilient lichen")
	deadline := time.Now().Add(10 * time.Second)
	for countPending(t, db) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the text is still pending 10 s after it came, %d runs left to fail", db.idxFail.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := ftsMatches(t, db, "lichen"); len(got) != 1 || got[0] != ids[0] {
		t.Fatalf("lichen matches %v, want %v", got, ids)
	}
}
