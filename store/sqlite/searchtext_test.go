package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"pillarbox/store"
	"pillarbox/store/storesuite"
	"slices"
	"strings"
	"testing"
)

func TestIndexTerms(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"the cat and THE dog, the end.", "the cat and dog end"},
		{"foo—bar foo—BAR foo", "foo—bar foo"},
		{"a@example.com\nA@Example.COM", "a example com"},
		{"Straße STRAẞE straße", "Straße STRAẞE"}, // only ASCII case is folded
	} {
		if got := store.IndexTerms(tc.in); got != tc.want {
			t.Errorf("IndexTerms(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIndexJoin(t *testing.T) {
	h := store.IndexTerms("Subject: ǆ\u00a0HELLO x\nFrom: a@b")
	if got, want := indexJoin(h, "body text"), "qqhSubject qqhǆ\u00a0HELLO qqhx qqhFrom qqha qqhb body text"; got != want {
		t.Errorf("indexJoin = %q, want %q", got, want)
	}
	if got := indexJoin("", "b"); got != "b" {
		t.Errorf("indexJoin without header = %q", got)
	}
}

func TestRawSearchText(t *testing.T) {
	for _, tc := range []struct{ in, header, body string }{
		{"Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n", "body\r\n"},
		{"Subject: x\n\nbody", "Subject: x\n", "body"},
		{"no header end", "no header end", ""},
		{"\r\nbody", "", "body"},
	} {
		got := store.RawSearchText([]byte(tc.in), true)
		if got != (store.MessageText{Header: tc.header, Body: tc.body}) {
			t.Errorf("store.RawSearchText(%q) = %+v; want %q, %q", tc.in, got, tc.header, tc.body)
		}
	}
}

// ftsDocs returns the blobs the full-text index finds for query.
func ftsDocs(t *testing.T, db *DB, query string) []int64 {
	t.Helper()
	rows, err := db.rdb.Query(`SELECT docid FROM blob_text WHERE blob_text MATCH ? ORDER BY docid`, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// ftsIntegrity runs FTS4's integrity check, which compares the index with
// what its content (the view over the stored messages) gives for every
// blob.
func ftsIntegrity(t *testing.T, db *DB) {
	t.Helper()
	if err := db.CheckIndex(context.Background()); err != nil {
		t.Fatalf("full-text index integrity: %v", err)
	}
}

// TestMigrationIndexWithoutText converts a version 15 database, whose
// index kept the text, with messages indexed and one still pending: SEARCH
// finds them all afterwards, the old copy of the text is gone, and
// removing a message takes its words out of the index.
func TestMigrationIndexWithoutText(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f.db")
	n := migrationNumber(t, "_index_without_text.sql")
	raw := rawAtVersion(t, path, n-1)
	msg := func(i int) string {
		return fmt.Sprintf("Subject: Report %d\r\nFrom: a@example.org\r\n\r\nThe numbers for week %d are in. The end.\r\n", i, i)
	}
	stmts := []string{
		`INSERT INTO accounts(id, address, password_hash, created) VALUES (1, 'a@example.org', 'x', 0)`,
		`INSERT INTO mailboxes(id, account_id, name, uidvalidity, uidnext) VALUES (1, 1, 'INBOX', 1, 5)`,
	}
	for i := 1; i <= 4; i++ {
		data := msg(i)
		text := store.RawSearchText([]byte(data), true)
		h, b := text.Header, text.Body
		q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
		stmts = append(stmts,
			fmt.Sprintf(`INSERT INTO blobs(id, size, envelope, structure, data) VALUES (%d, %d, '{}', '{}', %s)`, 10*i, len(data), q(data)),
			fmt.Sprintf(`INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES (1, %d, %d, %d, 0, %d)`, i, i, 10*i, len(data)))
		table := "blob_text(docid"
		if i == 4 {
			table = "blob_text_pending(blob_id" // not indexed yet
		}
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO %s, header, body) VALUES (%d, %s, %s)`, table, 10*i, q(h), q(b)))
	}
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	raw.Close()

	db, err := Open(path, Options{IndexDelay: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var copies int
	if err := db.rdb.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'blob_text%content' OR name = 'blob_text_old'`).Scan(&copies); err != nil || copies != 0 {
		t.Errorf("tables keeping a copy of the text: %d, %v", copies, err)
	}
	for _, tc := range []struct {
		c    store.SearchCriteria
		want []uint32
	}{
		{store.SearchCriteria{Body: []string{"week 3 are"}}, []uint32{3}},
		{store.SearchCriteria{Body: []string{"week 4 are"}}, []uint32{4}}, // pending
		{store.SearchCriteria{Body: []string{"numbers for"}}, []uint32{1, 2, 3, 4}},
		{store.SearchCriteria{Header: []store.HeaderCriterion{{Field: "Subject", Value: "report 2"}}}, []uint32{2}},
		{store.SearchCriteria{Text: []string{"report 1"}}, []uint32{1}},
	} {
		if got := storesuite.SearchUIDs(t, db, 1, &tc.c, false); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.c, got, tc.want)
		}
	}
	// (The indexer takes blob 40's pending text at Open, or now.)
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	ftsIntegrity(t, db)
	if got := ftsDocs(t, db, "week"); !slices.Equal(got, []int64{10, 20, 30, 40}) {
		t.Errorf("after flush, index finds week in %v", got)
	}
	var pieces []string
	rows, err := db.rdb.Query(`SELECT piece FROM index_pieces WHERE piece IN ('week', 'report', 'numbers', '4', 'the') ORDER BY piece`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		rows.Scan(&p)
		pieces = append(pieces, p)
	}
	rows.Close()
	if want := []string{"4", "numbers", "report", "the", "week"}; !slices.Equal(pieces, want) {
		t.Errorf("indexed pieces %q, want %q", pieces, want)
	}
	// A search string that ends or lies inside a piece finds it by them.
	for _, tc := range []struct {
		needle string
		want   []uint32
	}{{"umber", []uint32{1, 2, 3, 4}}, {"eek 3", []uint32{3}}, {"ort 4", []uint32{4}}, {"zzz", nil}} {
		if got := storesuite.SearchUIDs(t, db, 1, &store.SearchCriteria{Text: []string{tc.needle}}, false); !slices.Equal(got, tc.want) {
			t.Errorf("TEXT %q: got %v, want %v", tc.needle, got, tc.want)
		}
	}
	err = db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(1, []uint32{2, 4})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FlushIndex(ctx); err != nil { // removes the released blobs
		t.Fatal(err)
	}
	if got := ftsDocs(t, db, "week"); !slices.Equal(got, []int64{10, 30}) {
		t.Errorf("after removing UIDs 2 and 4, index finds week in %v", got)
	}
	if got := ftsDocs(t, db, `"2"`); len(got) != 0 {
		t.Errorf("the words of removed blob 20 are still indexed: %v", got)
	}
	ftsIntegrity(t, db)
}

// TestRemovingPendingBlob: a blob removed before the indexer took its text
// leaves nothing behind, and does not disturb the index.
func TestRemovingPendingBlob(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{IndexDelay: 1 << 40})
	ctx := context.Background()
	ids := insertTexts(t, db, "alpha beta", "gamma delta")
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	late := insertTexts(t, db, "alpha epsilon")
	err := db.write(ctx, func(tx *Tx) error {
		for _, id := range []int64{ids[1], late[0]} {
			if _, err := tx.exec(`DELETE FROM blobs WHERE id = ?`, id); err != nil {
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
	if got := ftsDocs(t, db, "alpha"); !slices.Equal(got, ids[:1]) {
		t.Errorf("alpha in %v, want %v", got, ids[:1])
	}
	if got := ftsDocs(t, db, "gamma OR epsilon"); len(got) != 0 {
		t.Errorf("removed blobs still indexed: %v", got)
	}
	ftsIntegrity(t, db)
}

// TestMigrationBlobAddresses: blobs stored before version 17 get their
// address texts from their stored ENVELOPE.
func TestMigrationBlobAddresses(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.db")
	n := migrationNumber(t, "_blob_addresses.sql")
	raw := rawAtVersion(t, path, n-1)
	env := `{"s":"hi","f":[{"n":"Jörg Müller","m":"joerg","h":"example.de"}],` +
		`"se":[{"n":"Jörg Müller","m":"joerg","h":"example.de"}],` +
		`"t":[{"m":"Team"},{"m":"dave","h":"example.com"},{}],"c":[{"m":"nohost","h":".MISSING-HOST-NAME."}],"b":[{"m":"x","h":"y.org"}]}`
	for _, s := range []string{
		`INSERT INTO accounts(id, address, password_hash, created) VALUES (1, 'a@example.org', 'x', 0)`,
		`INSERT INTO mailboxes(id, account_id, name, uidvalidity, uidnext) VALUES (1, 1, 'INBOX', 1, 3)`,
		`INSERT INTO blobs(id, size, envelope, structure, data) VALUES (7, 4, '` + env + `', '{}', 'x\r\n\r\n'), (8, 4, '{}', '{}', 'y\r\n\r\n')`,
		`INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES (1, 1, 1, 7, 0, 4), (1, 2, 2, 8, 0, 4)`,
	} {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	raw.Close()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var from, to, cc, bcc string
	if err := db.rdb.QueryRow(`SELECT from_text, to_text, cc_text, bcc_text FROM blob_addresses WHERE blob_id = 7`).Scan(&from, &to, &cc, &bcc); err != nil {
		t.Fatal(err)
	}
	want := [4]string{
		store.AddressText([]store.EnvelopeAddress{{Name: "Jörg Müller", Mailbox: "joerg", Host: "example.de"}}),
		store.AddressText([]store.EnvelopeAddress{{Mailbox: "Team"}, {Mailbox: "dave", Host: "example.com"}, {}}),
		store.AddressText([]store.EnvelopeAddress{{Mailbox: "nohost", Host: store.MissingHost}}),
		store.AddressText([]store.EnvelopeAddress{{Mailbox: "x", Host: "y.org"}}),
	}
	if got := [4]string{from, to, cc, bcc}; got != want {
		t.Errorf("blob 7 addresses = %q, want %q", got, want)
	}
	for _, tc := range []struct{ field, value string }{{"From", "jörg müller <joerg@"}, {"To", "team: dave@"}, {"Cc", "nohost"}, {"Bcc", "x@y.org"}} {
		c := store.SearchCriteria{Header: []store.HeaderCriterion{{Field: tc.field, Value: tc.value}}}
		if got := storesuite.SearchUIDs(t, db, 1, &c, false); !slices.Equal(got, []uint32{1}) {
			t.Errorf("%s %q: got %v, want [1]", tc.field, tc.value, got)
		}
	}
	var rows int
	if err := db.rdb.QueryRow(`SELECT count(*) FROM blob_addresses`).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("blob_addresses has %d rows, %v; want one per blob", rows, err)
	}
}

// TestMigrationIndexWithoutTextCompacts: the old index's copy of the text
// is given back to the file system, not left as free pages in the file.
func TestMigrationIndexWithoutTextCompacts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	raw := rawAtVersion(t, path, migrationNumber(t, "_index_without_text.sql")-1)
	var body strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&body, "line %d of a long message with words\r\n", i)
	}
	for i := 1; i <= 20; i++ {
		data := "Subject: big\r\n\r\n" + body.String()
		if _, err := raw.Exec(`INSERT INTO blobs(id, size, envelope, structure, data) VALUES (?, ?, '{}', '{}', ?)`, i, len(data), data); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`INSERT INTO blob_text(docid, header, body) VALUES (?, 'Subject: big', ?)`, i, body.String()); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	before := fileSize(t, path)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var free int
	if err := db.conn.QueryRowContext(context.Background(), "PRAGMA freelist_count").Scan(&free); err != nil || free != 0 {
		t.Errorf("free pages after the migration: %d, %v", free, err)
	}
	db.Close()
	if after := fileSize(t, path); after*10 > before*7 {
		t.Errorf("database file %d bytes after the migration, %d before: want the text's copy given back", after, before)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
