package sqlite

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"pillarbox/store"
	"testing"
)

// usageBySum is what an account's usage must equal: the sum of its
// messages' sizes, counted from the messages themselves.
func usageBySum(t *testing.T, db *DB, account int64) int64 {
	t.Helper()
	var n int64
	err := db.rdb.QueryRowContext(context.Background(), `SELECT coalesce(sum(m.size), 0) FROM messages m
		JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = ?`, account).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func wantUsage(t *testing.T, db *DB, account, want int64, step string) {
	t.Helper()
	q, err := db.Quota(context.Background(), account)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if q.Usage != want || q.Usage != usageBySum(t, db, account) {
		t.Fatalf("%s: usage %d, want %d (sum of messages %d)", step, q.Usage, want, usageBySum(t, db, account))
	}
}

// Every write that adds or removes a message keeps the account's usage
// equal to the sum of its messages' sizes: delivery to two accounts,
// a copy (the shared blob counts twice), a move within the account, an
// expunge, a folder deleted with its messages; the other account is not
// touched by any of it.
func TestQuotaUsageFollowsWrites(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	var alice, bob int64
	var inbox, archive, bobInbox store.Mailbox
	const size1, size2 = 1000, 250
	err := db.write(ctx, func(tx *Tx) error {
		var err error
		if alice, err = tx.CreateAccount("alice@example.org", "x", testNow); err != nil {
			return err
		}
		if bob, err = tx.CreateAccount("bob@example.org", "x", testNow); err != nil {
			return err
		}
		if inbox, err = tx.CreateMailbox(alice, "INBOX", "", true, testNow); err != nil {
			return err
		}
		if archive, err = tx.CreateMailbox(alice, "Archive", "", true, testNow); err != nil {
			return err
		}
		bobInbox, err = tx.CreateMailbox(bob, "INBOX", "", true, testNow)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	add := func(mb store.Mailbox, size int) {
		t.Helper()
		err := db.write(ctx, func(tx *Tx) error {
			blob, err := tx.InsertBlob(&store.Blob{Data: make([]byte, size), Envelope: []byte("{}"), Structure: []byte("{}")})
			if err != nil {
				return err
			}
			_, err = tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: blob, InternalDate: testNow, Size: int64(size)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wantUsage(t, db, alice, 0, "new account")
	add(inbox, size1)
	add(bobInbox, size1)
	wantUsage(t, db, alice, size1, "deliver")
	wantUsage(t, db, bob, size1, "deliver to bob")
	add(inbox, size2)
	wantUsage(t, db, alice, size1+size2, "append")

	write := func(step string, fn func(tx *Tx) error) {
		t.Helper()
		if err := db.write(ctx, fn); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	write("copy", func(tx *Tx) error {
		_, err := tx.CopyMessages(inbox.ID, []store.UIDRange{{Start: 1, Stop: 1}}, archive.ID)
		return err
	})
	wantUsage(t, db, alice, 2*size1+size2, "copy (shared blob counts twice)")
	write("move", func(tx *Tx) error {
		if _, err := tx.CopyMessages(inbox.ID, []store.UIDRange{{Start: 2, Stop: 2}}, archive.ID); err != nil {
			return err
		}
		_, err := tx.RemoveMessages(inbox.ID, []uint32{2})
		return err
	})
	wantUsage(t, db, alice, 2*size1+size2, "move within the account")
	write("expunge", func(tx *Tx) error {
		_, err := tx.RemoveMessages(inbox.ID, []uint32{1})
		return err
	})
	wantUsage(t, db, alice, size1+size2, "expunge")
	write("delete folder", func(tx *Tx) error { return tx.DeleteMailbox(archive.ID) })
	wantUsage(t, db, alice, 0, "folder deleted")
	wantUsage(t, db, bob, size1, "bob after alice's changes")

	write("delete account", func(tx *Tx) error { return tx.DeleteAccount("bob@example.org") })
	if _, err := db.Quota(ctx, bob); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("quota of a deleted account: %v, want ErrNotFound", err)
	}
}

// A version 11 database with mail opens migrated (0013) with each
// account's usage counted from its messages (two folders, a blob shared
// by two of them), no quota, and the triggers keeping it from then on.
func TestMigrationToQuota(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "q.db")
	raw := rawAtVersion(t, path, 11)
	_, err := raw.Exec(`
		INSERT INTO accounts(id, address, password_hash, created) VALUES (1, 'a@example.org', 'x', 0), (2, 'b@example.org', 'x', 0), (3, 'c@example.org', 'x', 0);
		INSERT INTO mailboxes(id, account_id, name, uidvalidity) VALUES (1, 1, 'INBOX', 1), (2, 1, 'Archive', 2), (3, 2, 'INBOX', 3);
		INSERT INTO blobs(id, size, envelope, structure, data) VALUES (1, 300, '{}', '{}', 'x'), (2, 70, '{}', '{}', 'y');
		INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES
			(1, 1, 1, 1, 0, 300), (2, 1, 1, 1, 0, 300), (1, 2, 1, 2, 0, 70), (3, 1, 1, 2, 0, 70);`)
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
	for _, c := range []struct{ account, usage int64 }{{1, 670}, {2, 70}, {3, 0}} {
		q, err := db.Quota(ctx, c.account)
		if err != nil || q.Usage != c.usage || q.Limit != 0 {
			t.Errorf("account %d after migration: %+v, %v; want usage %d, no limit", c.account, q, err, c.usage)
		}
	}
	err = db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(1, []uint32{1})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantUsage(t, db, 1, 370, "expunge after migration")
}

func TestStorageKiB(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		q            store.Quota
		usage, limit int64
	}{
		{store.Quota{}, 0, 0},
		{store.Quota{Usage: 1, Limit: 1024}, 1, 1},
		{store.Quota{Usage: 1024, Limit: 1025}, 1, 2},
		{store.Quota{Usage: 1500, Limit: 1500}, 2, 2},
		{store.Quota{Usage: 5 << 20, Limit: 2 << 30}, 5 << 10, 2 << 20},
		{store.Quota{Usage: 0, Limit: math.MaxInt64}, 0, math.MaxInt64/1024 + 1}, // no overflow near the top
	} {
		u, l := tc.q.StorageKiB()
		if u != tc.usage || l != tc.limit {
			t.Errorf("%+v: %d, %d KiB; want %d, %d", tc.q, u, l, tc.usage, tc.limit)
		}
	}
}
