package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/postgres"
	"pillarbox/store/sqlite"
)

// migrateFixture fills a data directory's SQLite store through the
// mailbox service: accounts with folders, messages with flags and
// keywords, some expunged (so UIDs have gaps and vanished rows exist).
func migrateFixture(t *testing.T, dataDir string, accounts, perAccount int) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(dataDir, "pillarbox.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.test"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for a := range accounts {
		addr := fmt.Sprintf("user%d@example.test", a)
		if err := svc.AddUser(ctx, addr, "password-"+addr); err != nil {
			t.Fatal(err)
		}
		acct, err := db.AccountByAddress(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.CreateFolder(ctx, acct.ID, "Archive/2026", ""); err != nil {
			t.Fatal(err)
		}
		var folder int64
		for i := range perAccount {
			name := []string{"INBOX", "Archive/2026"}[i%2]
			raw := fmt.Sprintf("From: sender%d@example.org\r\nTo: %s\r\nSubject: message %d of %s\r\nMessage-ID: <%d.%d@example.org>\r\n\r\nbody %d with a word pelican%d\r\n",
				i, addr, i, addr, a, i, i, i%7)
			flags := []string{}
			if i%3 == 0 {
				flags = append(flags, `\Seen`)
			}
			if i%5 == 0 {
				flags = append(flags, "$Project"+fmt.Sprint(i%2))
			}
			f, _, err := svc.Append(ctx, acct.ID, name, []byte(raw), flags, date.Add(time.Duration(i)*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if name == "INBOX" {
				folder = f.ID
			}
		}
		// Expunge a few, leaving gaps and vanished rows.
		set := mailbox.UIDSet{{Start: 2, Stop: 4}}
		if err := svc.StoreFlags(ctx, acct.ID, folder, set, mailbox.FlagsAdd, []string{`\Deleted`}, nil); err != nil {
			t.Fatal(err)
		}
		if err := svc.Expunge(ctx, acct.ID, folder, set, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Two messages whose index needs care: a piece too long for a
	// PostgreSQL lexeme (text without spaces), and terms too large for
	// one tsvector. Delivery marks both for search to check every time.
	acct, err := db.AccountByAddress(ctx, "user0@example.test")
	if err != nil {
		t.Fatal(err)
	}
	var words strings.Builder
	for i := 0; words.Len() < 900<<10; i++ {
		fmt.Fprintf(&words, "w%dx ", i)
	}
	for _, body := range []string{"Hello Pillarbox" + strings.Repeat("日本語", 250), words.String()} {
		raw := "From: big@example.org\r\nSubject: big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
		if _, _, err := svc.Append(ctx, acct.ID, "INBOX", []byte(raw), nil, date); err != nil {
			t.Fatal(err)
		}
	}
	// A relay item, written directly: its 0/1 columns are booleans in
	// PostgreSQL.
	src, err := sql.Open("sqlite3", filepath.Join(dataDir, "pillarbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.ExecContext(ctx, `INSERT INTO queue(blob_id, sender, recipient, domain, created, next_attempt, warned, require_tls)
		VALUES ((SELECT max(id) FROM blobs), 'user0@example.test', 'far@example.net', 'example.net', 1, 2, 1, 0)`); err != nil {
		t.Fatal(err)
	}
}

// storedMessage is what a mail app sees of one message.
type storedMessage struct {
	account, folder     string
	uidValidity, uid    int64
	modSeq              int64
	flags               int64
	keywords            string
	internalDate, size  int64
	sha                 string
	uidNext, highestMod int64
}

const storedMessagesQuery = `SELECT a.address, b.name, b.uidvalidity, m.uid, m.modseq, m.flags, m.keywords,
	m.internal_date, m.size, x.data, b.uidnext, b.highestmodseq
	FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id
	JOIN blobs x ON x.id = m.blob_id ORDER BY a.address, b.name, m.uid`

func TestMigrateToPostgres(t *testing.T) {
	dsn := pg.DB(t)
	dataDir := t.TempDir()
	cfgPath := writeServeConfig(t, dataDir, nil)
	migrateFixture(t, dataDir, 3, 40)
	ctx := context.Background()

	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"migrate", "--to", "postgres", "--dsn", dsn, "--config", cfgPath}, nil, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"messages", "verified:", "message checksums"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// What a mail app sees, read the same way from both stores.
	src, err := sql.Open("sqlite3", "file:"+filepath.Join(dataDir, "pillarbox.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	srows, err := src.QueryContext(ctx, storedMessagesQuery)
	if err != nil {
		t.Fatal(err)
	}
	want := scanStored(t, srows.Next, srows.Scan, srows.Err)
	srows.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	prows, err := conn.Query(ctx, storedMessagesQuery)
	if err != nil {
		t.Fatal(err)
	}
	got := scanStored(t, prows.Next, prows.Scan, prows.Err)
	prows.Close()
	if len(want) != 3*(40-3)+2 {
		t.Fatalf("fixture has %d messages, want %d", len(want), 3*37+2)
	}
	if len(got) != len(want) {
		t.Fatalf("PostgreSQL has %d messages, SQLite %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: PostgreSQL %+v, SQLite %+v", i, got[i], want[i])
		}
	}

	// The queue's 0/1 columns arrive as booleans, each as it was.
	var warned, requireTLS bool
	if err := conn.QueryRow(ctx, `SELECT warned, require_tls FROM queue WHERE recipient = 'far@example.net'`).Scan(&warned, &requireTLS); err != nil {
		t.Fatal(err)
	}
	if !warned || requireTLS {
		t.Errorf("queue item: warned %v, require_tls %v; want true, false", warned, requireTLS)
	}

	// The copy's ids continue past SQLite's: a new account does not
	// take an id SQLite gave, even one of a deleted row.
	var maxID, newID int64
	if err := src.QueryRowContext(ctx, `SELECT max(seq) FROM sqlite_sequence WHERE name = 'messages'`).Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('messages', 'id'))`).Scan(&newID); err != nil {
		t.Fatal(err)
	}
	if newID <= maxID {
		t.Errorf("next message id %d, SQLite gave up to %d", newID, maxID)
	}
	// The search index holds every message's words.
	var indexed int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM blob_text WHERE terms @@ to_tsquery('simple', 'pelican3')`).Scan(&indexed); err != nil {
		t.Fatal(err)
	}
	if indexed == 0 {
		t.Error("no message indexed under pelican3")
	}

	// Search on the PostgreSQL store finds the message with a piece too
	// long for the index, as it finds one delivered there.
	pdb, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	acct, err := pdb.AccountByAddress(ctx, "user0@example.test")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := pdb.MailboxByName(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := pdb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found []uint32
	for _, body := range []string{"Hello Pillarbox", "w12345x"} {
		err = snap.Search(ctx, inbox.ID, &store.SearchCriteria{Body: []string{body}}, false, func(uid, _ uint32) error {
			found = append(found, uid)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	snap.Close()
	if len(found) != 2 || found[0] == found[1] {
		t.Errorf("SEARCH BODY of the two large messages found UIDs %v, want one each", found)
	}

	// A second run refuses the database, which now holds mail.
	out.Reset()
	err = run(ctx, []string{"migrate", "--to", "postgres", "--dsn", dsn, "--config", cfgPath}, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("second migrate: %v, want a refusal of a database that is not empty", err)
	}
}

// scanStored reads storedMessagesQuery's rows through either driver.
func scanStored(t *testing.T, next func() bool, scan func(...any) error, rowsErr func() error) []storedMessage {
	t.Helper()
	var out []storedMessage
	for next() {
		var m storedMessage
		var data []byte
		if err := scan(&m.account, &m.folder, &m.uidValidity, &m.uid, &m.modSeq, &m.flags, &m.keywords,
			&m.internalDate, &m.size, &data, &m.uidNext, &m.highestMod); err != nil {
			t.Fatal(err)
		}
		m.sha = fmt.Sprintf("%x", sha256.Sum256(data))
		out = append(out, m)
	}
	if err := rowsErr(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrateRefusesBadArguments(t *testing.T) {
	cfgPath := writeServeConfig(t, t.TempDir(), nil)
	for _, args := range [][]string{
		{"migrate", "--dsn", "postgres://x"},
		{"migrate", "--to", "mysql", "--dsn", "postgres://x"},
		{"migrate", "--to", "postgres"},
		{"migrate", "--to", "postgres", "--dsn", "x", "--dsn-file", "y"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append(args, "--config", cfgPath), nil, &out, &errOut)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want a one-line error", args, err)
		}
	}
}

// migrate --dsn-file reads a DSN file as [store] dsn_file does: its
// first line, so that one file serves both, a comment after it
// included.
func TestMigrateDSNFileFirstLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(path, []byte("postgres://pillarbox@db.internal/mail\n# the mail cluster, see the runbook\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readDSN("", path)
	if err != nil || got != "postgres://pillarbox@db.internal/mail" {
		t.Errorf("readDSN: %q, %v", got, err)
	}
	cfg := &Config{}
	cfg.Store.DSNFile = path
	if got2, err := storeDSN(cfg); err != nil || got2 != got {
		t.Errorf("storeDSN: %q, %v; migrate read %q", got2, err, got)
	}
	if err := os.WriteFile(path, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readDSN("", path); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("an empty first line: %v, want a one-line error", err)
	}
}
