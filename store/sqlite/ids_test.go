package sqlite

import (
	"context"
	"path/filepath"
	"pillarbox/store"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// TestIDsNeverReused deletes the newest row of every table whose ids
// escape into sessions, logs and the CLI, then adds another: it must get
// a new id. Without AUTOINCREMENT, SQLite hands out max(id)+1 again, and a
// session of a deleted account reached the next new account's mail.
func TestIDsNeverReused(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	type ids struct{ acct, mbox, blob, msg, queue int64 }
	create := func(addr string) ids {
		var got ids
		err := db.write(ctx, func(tx *Tx) error {
			var err error
			if got.acct, err = tx.CreateAccount(addr, "h", testNow); err != nil {
				return err
			}
			mb, err := tx.CreateMailbox(got.acct, "INBOX", "", true, testNow)
			if err != nil {
				return err
			}
			got.mbox = mb.ID
			if got.blob, err = tx.InsertBlob(&store.Blob{Data: []byte("Subject: x\r\n\r\nx\r\n"), Envelope: []byte("{}"), Structure: []byte("{}")}); err != nil {
				return err
			}
			if _, err = tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: got.blob, InternalDate: testNow, Size: 17}); err != nil {
				return err
			}
			if err := tx.queryRow(`SELECT max(id) FROM messages`).Scan(&got.msg); err != nil {
				return err
			}
			got.queue, err = tx.Enqueue(store.NewQueueItem{BlobID: got.blob, AccountID: got.acct, Sender: addr,
				Recipient: "r@remote.example", Domain: "remote.example", Created: testNow, NextAttempt: testNow})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := create("dave@x.org")
	if err := db.write(ctx, func(tx *Tx) error {
		if err := tx.RemoveQueueItem(first.queue); err != nil {
			return err
		}
		return tx.DeleteAccount("dave@x.org")
	}); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountBlobs(ctx); n != 0 {
		t.Fatalf("%d blobs left after the account and queue item went", n)
	}
	second := create("erin@x.org")
	if second.acct == first.acct || second.mbox == first.mbox || second.blob == first.blob ||
		second.msg == first.msg || second.queue == first.queue {
		t.Fatalf("an id was reused: dave had %+v, erin got %+v", first, second)
	}
}

// TestMigrationKeepsRowsAndIDs builds a version 2 database with rows,
// then opens it, which applies migration 3: every row keeps its id, the
// triggers still work, and the next ids continue after the largest.
func TestMigrationKeepsRowsAndIDs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	raw := rawAtVersion(t, path, 2)
	_, err := raw.Exec(`
		INSERT INTO accounts(id, address, password_hash, created) VALUES (7, 'a@x.org', 'h', 1), (9, 'b@x.org', 'h', 1);
		INSERT INTO aliases(address, account_id) VALUES ('team@x.org', 7), ('team@x.org', 9);
		INSERT INTO mailboxes(id, account_id, name, uidvalidity) VALUES (3, 7, 'INBOX', 1), (4, 9, 'INBOX', 2);
		INSERT INTO blobs(id, size, envelope, structure, data) VALUES (5, 3, '{}', '{}', 'abc');
		INSERT INTO messages(id, mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES (11, 3, 1, 2, 5, 1, 3), (12, 4, 1, 2, 5, 1, 3);
		INSERT INTO queue(id, blob_id, account_id, sender, recipient, domain, created, next_attempt) VALUES (21, 5, 7, 'a@x.org', 'r@y.org', 'y.org', 1, 1);
		INSERT INTO queue_attempts(queue_id, at, remote, reply) VALUES (21, 1, 'mx', '451');`)
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var counts [6]int
	if err := db.rdb.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM accounts WHERE id IN (7, 9)),
		(SELECT count(*) FROM aliases),
		(SELECT count(*) FROM mailboxes WHERE id IN (3, 4)),
		(SELECT messages FROM mailbox_counts WHERE mailbox_id = 3),
		(SELECT count(*) FROM queue WHERE id = 21 AND account_id = 7),
		(SELECT count(*) FROM queue_attempts WHERE queue_id = 21)`).Scan(&counts[0], &counts[1], &counts[2], &counts[3], &counts[4], &counts[5]); err != nil {
		t.Fatal(err)
	}
	if counts != [6]int{2, 2, 2, 1, 1, 1} {
		t.Fatalf("after migration: %v, want [2 2 2 1 1 1]", counts)
	}
	// The triggers came back: deleting an account cascades, keeps the
	// counts and releases the blob once nothing refers to it.
	err = db.write(ctx, func(tx *Tx) error {
		if err := tx.RemoveQueueItem(21); err != nil {
			return err
		}
		return tx.DeleteAccount("a@x.org")
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountBlobs(ctx); n != 1 {
		t.Fatalf("blob released while b@ still has it")
	}
	if err := db.write(ctx, func(tx *Tx) error { return tx.DeleteAccount("b@x.org") }); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountBlobs(ctx); n != 0 {
		t.Fatalf("blob kept after the last message went: the trigger was lost")
	}
	var id int64
	if err := db.write(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.CreateAccount("c@x.org", "h", testNow)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if id <= 9 {
		t.Fatalf("new account got id %d, want above 9", id)
	}
	var sqlText string
	db.rdb.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name = 'accounts'`).Scan(&sqlText)
	if !strings.Contains(sqlText, "AUTOINCREMENT") {
		t.Fatalf("accounts table: %s", sqlText)
	}
}
