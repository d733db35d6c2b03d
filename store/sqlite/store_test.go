package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"pillarbox/store"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "data", "pillarbox.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var testNow = time.Unix(1_700_000_000, 0)

func TestMigrateFromEmpty(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "p.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := migrations.ReadDir("migrations")
	if v != len(names) || v < 1 {
		t.Fatalf("schema version %d, want %d", v, len(names))
	}
	for _, table := range []string{"accounts", "aliases", "mailboxes", "blobs", "blob_text", "messages", "queue", "queue_attempts", "counters"} {
		var n int
		if err := db.rdb.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
	var mode, sync string
	db.conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	db.conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync)
	// NORMAL: COMMIT does not fsync; the syncer does (durable_test.go).
	if mode != "wal" || sync != "1" {
		t.Errorf("journal_mode=%s synchronous=%s, want wal and 1 (NORMAL)", mode, sync)
	}
	db.Close()

	// Opening again applies nothing and keeps the version.
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v2, _ := db.SchemaVersion(ctx); v2 != v {
		t.Fatalf("version after reopen %d, want %d", v2, v)
	}
}

func TestMigrationVersions(t *testing.T) {
	t.Parallel()
	got, err := migrationVersions([]string{"0001_a.sql", "0002_b.sql", "0009_c.sql"})
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 9 {
		t.Fatalf("versions = %v, %v", got, err)
	}
	for _, names := range [][]string{
		{"0001_a.sql", "0006_dsn.sql", "0006_sent.sql"},
		{"0001_a.sql", "x_b.sql"},
		{"0000_a.sql"},
		{"0001.sql"},
	} {
		if _, err := migrationVersions(names); err == nil {
			t.Errorf("%v: no error", names)
		}
	}
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	const n = 40

	// Hold the writer in a first request until every other request is
	// queued behind it; they must then share one transaction.
	release := make(chan struct{})
	started := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- db.write(ctx, func(tx *Tx) error {
			close(started)
			<-release
			_, err := tx.CreateAccount("first@example.org", "x", testNow)
			return err
		})
	}()
	<-started
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- db.write(ctx, func(tx *Tx) error {
				_, err := tx.CreateAccount(fmt.Sprintf("u%d@example.org", i), "x", testNow)
				return err
			})
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(db.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests queued", len(db.reqs))
		}
		runtime.Gosched()
	}
	before := db.Stats()
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	after := db.Stats()
	if got := after.Requests - before.Requests; got != n+1 {
		t.Fatalf("answered %d requests, want %d", got, n+1)
	}
	// The first request commits alone; the n queued ones share one commit.
	if got := after.Commits - before.Commits; got != 2 {
		t.Fatalf("%d commits for %d concurrent requests, want 2", got, n+1)
	}
	accts, err := db.Accounts(ctx)
	if err != nil || len(accts) != n+1 {
		t.Fatalf("accounts: %d, %v", len(accts), err)
	}
}

func TestWriteFailureIsolated(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{})
	results := make(chan error, 4)
	go func() {
		results <- db.write(ctx, func(tx *Tx) error { close(started); <-release; return nil })
	}()
	<-started
	var committed []string
	var mu sync.Mutex
	submit := func(name string, fn func(tx *Tx) error) {
		go func() {
			results <- db.write(ctx, func(tx *Tx) error {
				tx.OnCommit(func() { mu.Lock(); committed = append(committed, name); mu.Unlock() })
				return fn(tx)
			})
		}()
	}
	submit("good1", func(tx *Tx) error { _, err := tx.CreateAccount("a@x.org", "h", testNow); return err })
	for len(db.reqs) != 1 {
		runtime.Gosched()
	}
	submit("bad", func(tx *Tx) error {
		if _, err := tx.CreateAccount("b@x.org", "h", testNow); err != nil {
			return err
		}
		return errors.New("boom")
	})
	for len(db.reqs) != 2 {
		runtime.Gosched()
	}
	submit("panics", func(tx *Tx) error { panic("kaboom") })
	for len(db.reqs) != 3 {
		runtime.Gosched()
	}
	close(release)
	var failures int
	for range 4 {
		if err := <-results; err != nil {
			failures++
		}
	}
	if failures != 2 {
		t.Fatalf("%d failures, want 2 (the erroring and the panicking request)", failures)
	}
	if _, err := db.AccountByAddress(ctx, "a@x.org"); err != nil {
		t.Fatalf("good request lost: %v", err)
	}
	if _, err := db.AccountByAddress(ctx, "b@x.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed request's write survived: %v", err)
	}
	if len(committed) != 1 || committed[0] != "good1" {
		t.Fatalf("OnCommit ran for %v, want only good1", committed)
	}
}

// A request alone in its batch runs without a savepoint: when it fails
// or panics, what it wrote is rolled back all the same, its OnCommit
// functions do not run, and the next request commits.
func TestWriteFailureAlone(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	ran := false
	err := db.write(ctx, func(tx *Tx) error {
		tx.OnCommit(func() { ran = true })
		if _, err := tx.CreateAccount("b@x.org", "h", testNow); err != nil {
			return err
		}
		return errors.New("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("the failing request returned %v", err)
	}
	if err := db.write(ctx, func(tx *Tx) error {
		if _, err := tx.CreateAccount("c@x.org", "h", testNow); err != nil {
			return err
		}
		panic("kaboom")
	}); err == nil {
		t.Fatal("the panicking request returned no error")
	}
	if err := db.write(ctx, func(tx *Tx) error { _, err := tx.CreateAccount("a@x.org", "h", testNow); return err }); err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Fatal("OnCommit of a failed request ran")
	}
	for _, gone := range []string{"b@x.org", "c@x.org"} {
		if _, err := db.AccountByAddress(ctx, gone); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s, written by a failed request, survived: %v", gone, err)
		}
	}
	if _, err := db.AccountByAddress(ctx, "a@x.org"); err != nil {
		t.Fatalf("the request after them was lost: %v", err)
	}
}

func TestFullDiskIsTemporary(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{MaxPages: 60})
	ctx := context.Background()
	var id int64
	err := db.write(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.CreateAccount("a@x.org", "h", testNow)
		if err != nil {
			return err
		}
		_, err = tx.CreateMailbox(id, "INBOX", "", true, testNow)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := db.MailboxByName(ctx, id, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 300_000)
	err = db.write(ctx, func(tx *Tx) error {
		bid, err := tx.InsertBlob(&store.Blob{Data: big, Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		_, err = tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: bid, InternalDate: testNow, Size: int64(len(big))})
		return err
	})
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("write past the page limit: %v, want ErrFull", err)
	}
	// The writer keeps working for writes that fit.
	err = db.write(ctx, func(tx *Tx) error {
		_, err := tx.CreateAccount("b@x.org", "h", testNow)
		return err
	})
	if err != nil {
		t.Fatalf("small write after full: %v", err)
	}
	if n, _ := db.CountMessages(ctx, mb.ID); n != 0 {
		t.Fatalf("%d messages after failed write", n)
	}
}

func TestBlobSharedAndReleased(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	var boxes []store.Mailbox
	err := db.write(ctx, func(tx *Tx) error {
		for _, addr := range []string{"a@x.org", "b@x.org"} {
			id, err := tx.CreateAccount(addr, "h", testNow)
			if err != nil {
				return err
			}
			mb, err := tx.CreateMailbox(id, "INBOX", "", true, testNow)
			if err != nil {
				return err
			}
			boxes = append(boxes, mb)
		}
		bid, err := tx.InsertBlob(&store.Blob{Data: []byte("Subject: hi\r\n\r\nbody\r\n"), Envelope: []byte("{}"), Structure: []byte("{}"),
			HeaderText: "Subject: hi\r\n", BodyText: "body\r\n"})
		if err != nil {
			return err
		}
		for _, mb := range boxes {
			if _, err := tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: bid, InternalDate: testNow, Size: 22}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountBlobs(ctx); n != 1 {
		t.Fatalf("%d blobs for one message to two recipients, want 1", n)
	}
	del := func(addr string) {
		if err := db.write(ctx, func(tx *Tx) error { return tx.DeleteAccount(addr) }); err != nil {
			t.Fatal(err)
		}
	}
	// The indexer removes released blobs (FlushIndex runs it now): it
	// keeps the one b@ still has, and removes it with b@'s message.
	stored := func() (blobs, texts int) {
		t.Helper()
		if err := db.FlushIndex(ctx); err != nil {
			t.Fatal(err)
		}
		db.rdb.QueryRowContext(ctx, "SELECT count(*) FROM blobs").Scan(&blobs)
		db.rdb.QueryRowContext(ctx, "SELECT count(*) FROM blob_text").Scan(&texts)
		return blobs, texts
	}
	del("a@x.org")
	if n, _ := db.CountBlobs(ctx); n != 1 {
		t.Fatalf("blob released while b@ still has the message")
	}
	if blobs, texts := stored(); blobs != 1 || texts != 1 {
		t.Fatalf("%d blobs and %d texts while b@ still has the message, want 1 and 1", blobs, texts)
	}
	del("b@x.org")
	if n, _ := db.CountBlobs(ctx); n != 0 {
		t.Fatalf("blob kept after its last message went")
	}
	if blobs, texts := stored(); blobs != 0 || texts != 0 {
		t.Fatalf("%d blobs and %d texts kept after the last message went", blobs, texts)
	}
}

func TestUIDValidityNeverReused(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	seen := map[uint32]bool{}
	var acct int64
	if err := db.write(ctx, func(tx *Tx) error {
		var err error
		acct, err = tx.CreateAccount("a@x.org", "h", testNow)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		var mb store.Mailbox
		err := db.write(ctx, func(tx *Tx) error {
			var err error
			mb, err = tx.CreateMailbox(acct, "Folder", "", false, testNow)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen[mb.UIDValidity] {
			t.Fatalf("UIDVALIDITY %d reused", mb.UIDValidity)
		}
		seen[mb.UIDValidity] = true
		if err := db.write(ctx, func(tx *Tx) error {
			_, err := tx.exec(`DELETE FROM mailboxes WHERE id = ?`, mb.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAliases(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	write := func(fn func(tx *Tx) error) error { return db.write(ctx, fn) }
	if err := write(func(tx *Tx) error {
		for _, a := range []string{"a@x.org", "b@x.org"} {
			if _, err := tx.CreateAccount(a, "h", testNow); err != nil {
				return err
			}
		}
		return tx.SetAlias("team@x.org", []string{"b@x.org", "a@x.org"})
	}); err != nil {
		t.Fatal(err)
	}
	targets, err := db.AliasTargets(ctx, "team@x.org")
	if err != nil || len(targets) != 2 || targets[0].Address != "a@x.org" {
		t.Fatalf("targets %v, %v", targets, err)
	}
	if err := write(func(tx *Tx) error { return tx.SetAlias("c@x.org", []string{"nobody@x.org"}) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alias to a missing account: %v", err)
	}
	if err := write(func(tx *Tx) error { return tx.SetAlias("a@x.org", []string{"b@x.org"}) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("alias over an account: %v", err)
	}
	if err := write(func(tx *Tx) error { _, err := tx.CreateAccount("team@x.org", "h", testNow); return err }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("account over an alias: %v", err)
	}
	if err := write(func(tx *Tx) error { return tx.DeleteAccount("a@x.org") }); err != nil {
		t.Fatal(err)
	}
	all, _ := db.Aliases(ctx)
	if len(all) != 1 || len(all[0].Targets) != 1 || all[0].Targets[0] != "b@x.org" {
		t.Fatalf("aliases after deleting a target: %+v", all)
	}
}

func TestCloseAnswersEveryone(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "p.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var okCount, closedCount int
	var mu sync.Mutex
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.write(ctx, func(tx *Tx) error {
				_, err := tx.CreateAccount(fmt.Sprintf("u%d@x.org", i), "h", testNow)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				okCount++
			case errors.Is(err, store.ErrClosed):
				closedCount++
			default:
				t.Errorf("write: %v", err)
			}
		}()
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if okCount+closedCount != 20 {
		t.Fatalf("%d ok + %d closed, want 20 answers", okCount, closedCount)
	}
	db2, err := Open(db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	accts, _ := db2.Accounts(ctx)
	if len(accts) != okCount {
		t.Fatalf("%d accounts stored, %d writes acknowledged", len(accts), okCount)
	}
}

// TestRefusesNewerSchema: a database a newer build has migrated is
// refused with a message that says so, rather than run on by a build
// that does not know what its later migrations changed (a downgrade).
func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path, Options{})
	if err == nil {
		db.Close()
		t.Fatalf("Open of a schema %d database by a build at %d succeeded", v+1, v)
	}
	if want := fmt.Sprintf("schema version %d, newer than this build's %d", v+1, v); !strings.Contains(err.Error(), want) {
		t.Fatalf("Open = %v, want it to say %q", err, want)
	}
}
