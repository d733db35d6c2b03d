package postgres

import (
	"context"
	"slices"
	"testing"

	"pillarbox/store"
	"pillarbox/store/storesuite"
)

// TestReindexText: a blob indexed before the words of its part headers
// were (text version 0) is not found by TEXT for such a word, as the
// index leaves it out; ReindexText derives its blob_text row again and
// then it is. A blob without part headers keeps its row. A blob stored
// now is at the current version already, and a second run has nothing
// to do.
func TestReindexText(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	mb := readTestMailbox(t, db.pool, "a@example.org", "INBOX")
	db.SetSearchText(storesuite.NulText)
	// Its blob_text row from its header and body alone, as before.
	old := searchInsertBlob(t, db.pool, &store.Blob{Data: []byte("Subject: chart\x00see attached\x00Content-Type: image/png; name=oldchart.png\n"),
		HeaderText: "Subject: chart", BodyText: "see attached"}, true)
	readTestAppend(t, db.pool, mb, old, 0, nil, searchTestNow, 1)
	err := db.Write(ctx, func(tx store.Tx) error {
		b := &store.Blob{Data: []byte("Subject: chart 2\x00see\x00Content-Type: image/png; name=newchart.png\n"),
			HeaderText: "Subject: chart 2", BodyText: "see", PartText: "Content-Type: image/png; name=newchart.png\n",
			Envelope: []byte("{}"), Structure: []byte("{}")}
		id, err := tx.InsertBlob(b)
		if err != nil {
			return err
		}
		_, err = tx.AppendMessage(store.NewMessage{MailboxID: mb, BlobID: id, InternalDate: searchTestNow, Size: int64(len(b.Data))})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// "chart" and "png" lie between separators: the index narrows by them.
	text := func(needle string) []uint32 {
		return storesuite.SearchUIDs(t, db, mb, &store.SearchCriteria{Text: []string{needle}}, false)
	}
	plain := searchInsertBlob(t, db.pool, &store.Blob{Data: []byte("Subject: plain chart\x00no parts"),
		HeaderText: "Subject: plain chart", BodyText: "no parts"}, true)
	readTestAppend(t, db.pool, mb, plain, 0, nil, searchTestNow, 1)
	if got := text("=newchart.png"); !slices.Equal(got, []uint32{2}) {
		t.Errorf("TEXT =newchart.png = %v, want [2]", got)
	}
	if got := text("=oldchart.png"); len(got) != 0 {
		t.Errorf("TEXT =oldchart.png before reindexing = %v, want none (the index has not its part headers)", got)
	}
	if n, err := db.ReindexText(ctx); err != nil || n != 2 {
		t.Fatalf("ReindexText = %d, %v; want 2", n, err)
	}
	if got := text(" plain chart"); !slices.Equal(got, []uint32{3}) {
		t.Errorf("TEXT \" plain chart\" = %v, want [3]", got)
	}
	if got := text("=oldchart.png"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("TEXT =oldchart.png after reindexing = %v, want [1]", got)
	}
	if got := storesuite.SearchUIDs(t, db, mb, &store.SearchCriteria{Body: []string{"=oldchart.png"}}, false); len(got) != 0 {
		t.Errorf("BODY =oldchart.png = %v, want none", got)
	}
	var left int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM blobs WHERE text_version <> $1`, textVersion).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d blobs not at the current text version, %v", left, err)
	}
	if n, err := db.ReindexText(ctx); err != nil || n != 0 {
		t.Errorf("ReindexText again = %d, %v; want 0", n, err)
	}
}
