package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// fixture is an account with one folder and one blob at the newest
// version.
type fixture struct {
	p                  *pgxpool.Pool
	account, box, blob int64
}

func newFixture(t *testing.T) fixture {
	p := openAt(t, pg.DB(t), -1).Pool()
	f := fixture{p: p}
	f.account = id(t, p, "INSERT INTO accounts(address, password_hash, created) VALUES ('a@example.org', 'x', 1) RETURNING id")
	f.box = id(t, p, "INSERT INTO mailboxes(account_id, name, uidvalidity) VALUES ($1, 'INBOX', 1) RETURNING id", f.account)
	f.blob = id(t, p, "INSERT INTO blobs(size, envelope, structure, data) VALUES (10, '{}', '{}', '\\x00'::bytea) RETURNING id")
	return f
}

func (f fixture) message(t *testing.T, uid int) {
	exec(t, f.p, "INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES ($1, $2, 1, $3, 1, 10)", f.box, uid, f.blob)
}

func (f fixture) blobs(t *testing.T) int {
	var n int
	query1(t, f.p, "SELECT count(*) FROM blobs", &n)
	return n
}

// A blob stays while a message or a queue item holds it, and goes (with
// its search text) with the last.
func TestBlobReleasedWithLastReference(t *testing.T) {
	f := newFixture(t)
	f.message(t, 1)
	f.message(t, 2)
	exec(t, f.p, "INSERT INTO blob_text VALUES ($1, to_tsvector('simple', 'x'))", f.blob)
	exec(t, f.p, "INSERT INTO queue(blob_id, sender, recipient, domain, created, next_attempt) VALUES ($1, '', 'b@example.net', 'example.net', 1, 1)", f.blob)
	exec(t, f.p, "DELETE FROM messages")
	if n := f.blobs(t); n != 1 {
		t.Fatalf("%d blobs with a queue item left, want 1", n)
	}
	exec(t, f.p, "DELETE FROM queue")
	var texts int
	query1(t, f.p, "SELECT count(*) FROM blob_text", &texts)
	if n := f.blobs(t); n != 0 || texts != 0 {
		t.Errorf("%d blobs, %d texts after the last reference went, want none", n, texts)
	}
}

// Two transactions removing a blob's last two messages at once: the
// second waits for the first's lock on the blob and then sees its
// removal, so the blob goes rather than being left with no reference.
func TestBlobReleasedByConcurrentRemovals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.message(t, 1)
	// The other message is another account's: two removals in one folder
	// (or account) would already wait for each other on its totals (or
	// usage) row, and hide a missing lock on the blob.
	bob := id(t, f.p, "INSERT INTO accounts(address, password_hash, created) VALUES ('b@example.org', 'x', 1) RETURNING id")
	box := id(t, f.p, "INSERT INTO mailboxes(account_id, name, uidvalidity) VALUES ($1, 'INBOX', 2) RETURNING id", bob)
	exec(t, f.p, "INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES ($1, 2, 1, $2, 1, 10)", box, f.blob)
	tx1, err := f.p.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback(ctx)
	if _, err := tx1.Exec(ctx, "DELETE FROM messages WHERE uid = 1"); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		tx2, err := f.p.Begin(ctx)
		if err == nil {
			if _, err = tx2.Exec(ctx, "DELETE FROM messages WHERE uid = 2"); err == nil {
				err = tx2.Commit(ctx)
			}
			tx2.Rollback(ctx)
		}
		second <- err
	}()
	waitForLockWait(t, f.p)
	if err := tx1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if n := f.blobs(t); n != 0 {
		t.Errorf("%d blobs after both removals, want 0", n)
	}
}

// waitForLockWait returns once a backend of the database waits for a
// lock, failing t after a deadline.
func waitForLockWait(t *testing.T, p *pgxpool.Pool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		query1(t, p, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", &n)
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the second removal never waited for the first")
}

// Deleting a folder takes its messages off the account's usage, and
// deleting the account takes everything with it.
func TestFolderAndAccountDeletion(t *testing.T) {
	f := newFixture(t)
	other := id(t, f.p, "INSERT INTO mailboxes(account_id, name, uidvalidity) VALUES ($1, 'Other', 2) RETURNING id", f.account)
	f.message(t, 1)
	exec(t, f.p, "INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES ($1, 1, 1, $2, 1, 10)", other, f.blob)
	var usage int64
	query1(t, f.p, "SELECT usage FROM accounts", &usage)
	if usage != 20 {
		t.Fatalf("usage %d, want 20", usage)
	}
	exec(t, f.p, "DELETE FROM mailboxes WHERE id = $1", f.box)
	query1(t, f.p, "SELECT usage FROM accounts", &usage)
	if usage != 10 || f.blobs(t) != 1 {
		t.Errorf("usage %d, %d blobs after deleting a folder; want 10, 1", usage, f.blobs(t))
	}
	exec(t, f.p, "DELETE FROM accounts")
	var left int
	query1(t, f.p, "SELECT (SELECT count(*) FROM mailboxes) + (SELECT count(*) FROM messages) + (SELECT count(*) FROM mailbox_counts) + (SELECT count(*) FROM blobs)", &left)
	if left != 0 {
		t.Errorf("%d rows left after deleting the account", left)
	}
}

// Ids are never handed out twice, even after the newest row is deleted
// (SQLite needed AUTOINCREMENT, version 3).
func TestIdsNotReused(t *testing.T) {
	f := newFixture(t)
	exec(t, f.p, "DELETE FROM accounts")
	again := id(t, f.p, "INSERT INTO accounts(address, password_hash, created) VALUES ('a@example.org', 'x', 1) RETURNING id")
	if again <= f.account {
		t.Errorf("new account id %d after deleting %d", again, f.account)
	}
}

// UIDVALIDITY is unique across the database, not per account.
func TestUIDValidityUniqueAcrossAccounts(t *testing.T) {
	f := newFixture(t)
	other := id(t, f.p, "INSERT INTO accounts(address, password_hash, created) VALUES ('b@example.org', 'x', 1) RETURNING id")
	if _, err := f.p.Exec(context.Background(), "INSERT INTO mailboxes(account_id, name, uidvalidity) VALUES ($1, 'INBOX', 1)", other); err == nil {
		t.Error("a second mailbox with UIDVALIDITY 1 was accepted")
	}
}

// Keywords are unique in a folder whatever their case, and the first
// spelling stays.
func TestMailboxKeywordsIgnoreCase(t *testing.T) {
	f := newFixture(t)
	for _, k := range []string{"Work", "WORK", "work"} {
		exec(t, f.p, "INSERT INTO mailbox_keywords VALUES ($1, $2) ON CONFLICT (mailbox_id, lower(keyword)) DO NOTHING", f.box, k)
	}
	var got []string
	query1(t, f.p, "SELECT array_agg(keyword) FROM mailbox_keywords", &got)
	if len(got) != 1 || got[0] != "Work" {
		t.Errorf("keywords %q, want [Work]", got)
	}
}
