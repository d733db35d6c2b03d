package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"pillarbox/store"
	"pillarbox/store/storesuite"
)

// TestMigrationPartHeaders converts a version 24 database, with two
// messages indexed (one without parts) and one pending, whose index holds
// the words of their header and body only. The index stays consistent with their text
// version 0 (FTS4's integrity check derives every blob's words again),
// a new blob is stored at version 1, and ReindexText takes the old ones
// to version 1, after which TEXT, and not BODY, finds their part
// headers' words; removing them leaves nothing behind.
func TestMigrationPartHeaders(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f.db")
	n := migrationNumber(t, "_part_headers.sql")
	raw := rawAtVersion(t, path, n-1)
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	exec(`INSERT INTO accounts(id, address, password_hash, created) VALUES (1, 'a@example.org', 'x', 0)`)
	exec(`INSERT INTO mailboxes(id, account_id, name, uidvalidity, uidnext) VALUES (1, 1, 'INBOX', 1, 4)`)
	for i, name := range []string{"oldchart", "pendchart", ""} {
		id, uid := 10*(i+1), i+1
		header, body := fmt.Sprintf("Subject: chart %d\n", uid), "see the attachment"
		data := header + "\x00" + body
		if name != "" {
			data += "\x00Content-Type: image/png; name=" + name + ".png\n"
		}
		exec(`INSERT INTO blobs(id, size, envelope, structure, data) VALUES (?, ?, '{}', '{}', ?)`, id, len(data), []byte(data))
		exec(`INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES (1, ?, ?, ?, 0, ?)`, uid, uid, id, len(data))
		if i != 1 {
			exec(`INSERT INTO blob_text(docid, terms) VALUES (?, pillarbox_index_join(pillarbox_index_terms(?), pillarbox_index_terms(?)))`, id, header, body)
		} else { // not indexed yet
			exec(`INSERT INTO blob_text_pending(blob_id, header, body) VALUES (?, pillarbox_index_terms(?), pillarbox_index_terms(?))`, id, header, body)
		}
	}
	raw.Close()

	db, err := Open(path, Options{IndexDelay: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetSearchText(storesuite.NulText)
	ctx := context.Background()
	ftsIntegrity(t, db) // also indexes blob 20's pending text, at version 0

	var newBlob int64
	err = db.write(ctx, func(tx *Tx) error {
		blob := &store.Blob{Data: []byte("Subject: chart 4\x00see\x00Content-Type: image/png; name=newchart.png\n"),
			HeaderText: "Subject: chart 4", BodyText: "see", PartText: "Content-Type: image/png; name=newchart.png\n",
			Envelope: []byte("{}"), Structure: []byte("{}")}
		if newBlob, err = tx.InsertBlob(blob); err != nil {
			return err
		}
		_, err := tx.AppendMessage(store.NewMessage{MailboxID: 1, BlobID: newBlob, Size: int64(len(blob.Data))})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	versions := func() []int {
		var out []int
		rows, err := db.rdb.Query(`SELECT text_version FROM blobs ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			rows.Scan(&v)
			out = append(out, v)
		}
		return out
	}
	if got := versions(); !slices.Equal(got, []int{0, 0, 0, 1}) {
		t.Errorf("text versions %v, want [0 0 0 1]", got)
	}
	text := func(needle string) []uint32 {
		return storesuite.SearchUIDs(t, db, 1, &store.SearchCriteria{Text: []string{needle}}, false)
	}
	if got := text("newchart"); !slices.Equal(got, []uint32{4}) {
		t.Errorf("TEXT newchart before reindexing = %v, want [4]", got)
	}

	// Blob 20 goes through the index, then back to pending text, mid-way.
	if n, err := db.ReindexText(ctx); err != nil || n != 3 {
		t.Fatalf("ReindexText = %d, %v; want 3", n, err)
	}
	if got := versions(); !slices.Equal(got, []int{1, 1, 1, 1}) {
		t.Errorf("text versions after ReindexText %v, want [1 1 1 1]", got)
	}
	for needle, want := range map[string][]uint32{"oldchart": {1}, "pendchart": {2}, "image/png": {1, 2, 4}, "chart 3": {3}} {
		if got := text(needle); !slices.Equal(got, want) {
			t.Errorf("TEXT %q = %v, want %v", needle, got, want)
		}
		if got := storesuite.SearchUIDs(t, db, 1, &store.SearchCriteria{Body: []string{needle}}, false); len(got) != 0 {
			t.Errorf("BODY %q = %v, want none", needle, got)
		}
	}
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ftsDocs(t, db, "qqholdchart"); !slices.Equal(got, []int64{10}) {
		t.Errorf("index finds the part header word oldchart in %v, want [10]", got)
	}
	ftsIntegrity(t, db)
	if n, err := db.ReindexText(ctx); err != nil || n != 0 {
		t.Errorf("ReindexText again = %d, %v; want 0", n, err)
	}

	err = db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(1, []uint32{1, 2, 3, 4})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ftsDocs(t, db, "qqhchart"); len(got) != 0 {
		t.Errorf("the words of removed blobs are still indexed: %v", got)
	}
	ftsIntegrity(t, db)
}

// TestReleasedBlobsAtOpen: a blob released (its last message expunged)
// and not yet removed when the store closed is removed by the next Open,
// whose words must come from the search text function the blob was
// indexed with, not the raw text: otherwise the index keeps words of
// a blob that is gone, and FTS4's integrity check fails.
func TestReleasedBlobsAtOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	opts := Options{IndexDelay: 1 << 40, SearchText: storesuite.NulText}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.SetSearchText(storesuite.NulText)
	ctx := context.Background()
	err = db.write(ctx, func(tx *Tx) error {
		for i, body := range []string{"alpha beta", "gamma delta"} {
			b := &store.Blob{Data: []byte("Subject: x\x00" + body + "\x00Content-Type: text/plain; name=a.txt\n"),
				HeaderText: "Subject: x", BodyText: body, PartText: "Content-Type: text/plain; name=a.txt\n",
				Envelope: []byte("{}"), Structure: []byte("{}")}
			id, err := tx.InsertBlob(b)
			if err != nil {
				return err
			}
			if _, err := tx.exec(`INSERT INTO accounts(id, address, password_hash, created) VALUES (?1, 'a' || ?1, 'x', 0)
				ON CONFLICT DO NOTHING`, 1); err != nil {
				return err
			}
			if _, err := tx.exec(`INSERT INTO mailboxes(id, account_id, name, uidvalidity, uidnext) VALUES (1, 1, 'INBOX', 1, 1)
				ON CONFLICT DO NOTHING`); err != nil {
				return err
			}
			if _, err := tx.AppendMessage(store.NewMessage{MailboxID: 1, BlobID: id, Size: int64(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	err = db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(1, []uint32{1})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var released int
	if err := db.rdb.QueryRow(`SELECT count(*) FROM blobs_released`).Scan(&released); err != nil || released != 0 {
		t.Errorf("%d blobs still noted as released after Open, %v", released, err)
	}
	db.SetSearchText(storesuite.NulText)
	if got := ftsDocs(t, db, "alpha"); len(got) != 0 {
		t.Errorf("the words of the removed blob are still indexed: %v", got)
	}
	ftsIntegrity(t, db)
}
