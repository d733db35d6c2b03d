package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pillarbox/store"
)

func countRows(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.rdb.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// inboxWith stores one message in a new account's INBOX for each text and
// returns the mailbox and the messages' blobs.
func inboxWith(t *testing.T, db *DB, texts ...string) (int64, []int64) {
	t.Helper()
	var mailbox int64
	var blobs []int64
	err := db.write(context.Background(), func(tx *Tx) error {
		var n int
		if err := tx.queryRow(`SELECT count(*) FROM accounts`).Scan(&n); err != nil {
			return err
		}
		acct, err := tx.CreateAccount(fmt.Sprintf("r%d@x.org", n), "h", testNow)
		if err != nil {
			return err
		}
		mb, err := tx.CreateMailbox(acct, "INBOX", "", true, testNow)
		if err != nil {
			return err
		}
		mailbox = mb.ID
		for _, text := range texts {
			data := "Subject: x\r\n\r\n" + text + "\r\n"
			id, err := tx.InsertBlob(&store.Blob{Data: []byte(data), Envelope: []byte("{}"), Structure: []byte("{}"),
				HeaderText: "Subject: x\r\n", BodyText: text})
			if err != nil {
				return err
			}
			if _, err := tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: id, InternalDate: testNow, Size: int64(len(data))}); err != nil {
				return err
			}
			blobs = append(blobs, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mailbox, blobs
}

// TestExpungeReleasesBlobLater: an expunge only notes the blob; the indexer
// removes it, with its words, and leaves the index whole.
func TestExpungeReleasesBlobLater(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{IndexDelay: 1 << 40})
	ctx := context.Background()
	mb, blobs := inboxWith(t, db, "walrus one", "walrus two", "walrus three")
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(mb, []uint32{2})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "blobs"); n != 3 {
		t.Fatalf("%d blobs stored right after the expunge, want 3 (removed later)", n)
	}
	if n, _ := db.CountBlobs(ctx); n != 2 {
		t.Fatalf("CountBlobs %d after the expunge, want 2", n)
	}
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "blobs"); n != 2 {
		t.Fatalf("%d blobs stored after the indexer ran, want 2", n)
	}
	if n := countRows(t, db, "blobs_released"); n != 0 {
		t.Fatalf("%d released blobs left noted", n)
	}
	for _, table := range []string{"blob_addresses", "blob_headers"} {
		if n := countRows(t, db, table); n != 2 {
			t.Errorf("%s has %d rows, want 2", table, n)
		}
	}
	if got, want := ftsDocs(t, db, "walrus"), []int64{blobs[0], blobs[2]}; !slices.Equal(got, want) {
		t.Errorf("walrus in %v, want %v", got, want)
	}
	ftsIntegrity(t, db)
}

// TestReleasedBlobReferencedAgainStays: the indexer removes a noted blob
// only if nothing refers to it when it runs.
func TestReleasedBlobReferencedAgainStays(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{IndexDelay: 1 << 40})
	ctx := context.Background()
	mb, blobs := inboxWith(t, db, "heron")
	if err := db.write(ctx, func(tx *Tx) error {
		if _, err := tx.RemoveMessages(mb, []uint32{1}); err != nil {
			return err
		}
		_, err := tx.exec(`INSERT INTO queue(blob_id, sender, recipient, domain, created, next_attempt) VALUES (?, 'a@x.org', 'b@y.org', 'y.org', 0, 0)`, blobs[0])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "blobs"); n != 1 {
		t.Fatalf("the queue's blob was removed")
	}
	if got := ftsDocs(t, db, "heron"); !slices.Equal(got, blobs) {
		t.Errorf("heron in %v, want %v", got, blobs)
	}
	ftsIntegrity(t, db)
}

// TestExpungedBeforeIndexedNeverIndexed: a message expunged before the
// indexer ran is removed with its pending text, which is never indexed.
func TestExpungedBeforeIndexedNeverIndexed(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{IndexDelay: 1 << 40})
	ctx := context.Background()
	mb, blobs := inboxWith(t, db, "osprey kept", "osprey gone")
	if err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(mb, []uint32{2})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ftsDocs(t, db, "osprey"); !slices.Equal(got, blobs[:1]) {
		t.Errorf("osprey in %v, want %v", got, blobs[:1])
	}
	if n := countRows(t, db, "blob_text_pending"); n != 0 {
		t.Errorf("%d texts left pending", n)
	}
	ftsIntegrity(t, db)
}

// TestIndexerRemovesReleasedBlobs: expunges alone wake the indexer, which
// removes what they released without anyone flushing.
func TestIndexerRemovesReleasedBlobs(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{IndexDelay: 1 << 40}) // only indexAfterRows wakes it
	ctx := context.Background()
	texts := make([]string, indexAfterRows)
	uids := make([]uint32, indexAfterRows)
	for i := range texts {
		texts[i] = fmt.Sprint("text ", i)
		uids[i] = uint32(i + 1)
	}
	mb, _ := inboxWith(t, db, texts...)
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(mb, uids)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for countRows(t, db, "blobs") != 0 {
		select {
		case <-deadline:
			t.Fatalf("%d blobs still stored 10 s after their messages went", countRows(t, db, "blobs"))
		case <-tick.C:
		}
	}
	if n := countRows(t, db, "blobs_released"); n != 0 {
		t.Fatalf("%d released blobs left noted", n)
	}
}

// TestRemovalReadsStagedTerms: the view FTS4 reads a removed blob's words
// from gives what the indexer staged for the blob, and derives them from
// the message only for a blob it did not stage.
func TestRemovalReadsStagedTerms(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{IndexDelay: 1 << 40})
	ctx := context.Background()
	_, blobs := inboxWith(t, db, "plover", "curlew")
	db.staged.put(blobs[0], "staged words")
	defer db.staged.drop(blobs[:1])
	var staged, derived string
	if err := db.rdb.QueryRowContext(ctx, `SELECT terms FROM blob_index_text WHERE rowid = ?`, blobs[0]).Scan(&staged); err != nil {
		t.Fatal(err)
	}
	if err := db.rdb.QueryRowContext(ctx, `SELECT terms FROM blob_index_text WHERE rowid = ?`, blobs[1]).Scan(&derived); err != nil {
		t.Fatal(err)
	}
	if staged != "staged words" {
		t.Errorf("view gives %q for a staged blob, want the staged words", staged)
	}
	if !strings.Contains(derived, "curlew") {
		t.Errorf("view gives %q for a blob not staged, want its words", derived)
	}
}

// TestIndexerStagesWhatItRemoves: FlushIndex stages the words of the
// indexed blobs it removes, and leaves nothing staged once they are gone.
func TestIndexerStagesWhatItRemoves(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{IndexDelay: 1 << 40})
	ctx := context.Background()
	mb, blobs := inboxWith(t, db, "gannet one", "gannet two", "gannet three")
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(mb, []uint32{1, 3})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// One more released blob, never indexed: released, not staged.
	mb2, late := inboxWith(t, db, "gannet late")
	if err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(mb2, []uint32{1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	released, staged, err := db.stageReleased(ctx, indexBatch)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{blobs[0], blobs[2], late[0]}; !slices.Equal(released, want) {
		t.Errorf("released %v, want %v", released, want)
	}
	if want := []int64{blobs[0], blobs[2]}; !slices.Equal(staged, want) {
		t.Errorf("staged %v, want %v", staged, want)
	}
	for _, id := range staged {
		if terms, _ := db.staged.get(id); !strings.Contains(terms, "gannet") {
			t.Errorf("blob %d staged as %q", id, terms)
		}
	}
	db.staged.drop(staged)
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ftsDocs(t, db, "gannet"); !slices.Equal(got, blobs[1:2]) {
		t.Errorf("gannet in %v, want %v", got, blobs[1:2])
	}
	if n := len(db.staged.terms); n != 0 {
		t.Errorf("%d blobs' words left staged", n)
	}
	ftsIntegrity(t, db)
}
