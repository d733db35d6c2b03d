package postgres

import (
	"testing"
	"time"

	"pillarbox/store"
)

// sentMessage inserts, with plain SQL (the mailbox methods are another
// file's), a folder of account named name holding one message at UID 1
// of size 30, and returns the folder's id.
func sentMessage(t *testing.T, db *DB, account int64, name string) int64 {
	t.Helper()
	box := id(t, db.pool, `INSERT INTO mailboxes(account_id, name, uidvalidity, uidnext, special_use)
		VALUES ($1, $2, (SELECT coalesce(max(uidvalidity), 0) + 1 FROM mailboxes), 2, '\Sent') RETURNING id`, account, name)
	blob := id(t, db.pool, `INSERT INTO blobs(size, message_id, envelope, structure, data)
		VALUES (30, 'm1@x.org', '{}', '{}', '\x00'::bytea) RETURNING id`)
	exec(t, db.pool, `INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size)
		VALUES ($1, 1, 1, $2, 1, 30)`, box, blob)
	return box
}

// sentFixture makes two accounts, each with a Sent mailbox holding one
// message with the same Message-ID, and records both as automatic
// copies saved at dirNow.
func sentFixture(t *testing.T, db *DB) (accounts [2]int64, boxes [2]int64) {
	t.Helper()
	ids := dirAccounts(t, db, "a@x.org", "b@x.org")
	for i, acct := range ids {
		accounts[i], boxes[i] = acct, sentMessage(t, db, acct, "Sent")
	}
	err := dirWrite(db, func(tx *Tx) error {
		for i := range accounts {
			err := tx.AddSentCopy(store.SentCopy{MailboxID: boxes[i], UID: 1, AccountID: accounts[i], MessageID: "m1@x.org", Kind: store.SentAuto, Saved: dirNow})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return accounts, boxes
}

// sentCopies reads the automatic copies of an account inside a write.
func sentCopies(t *testing.T, db *DB, account int64, msgID string, since time.Time) []store.SentCopy {
	t.Helper()
	var out []store.SentCopy
	err := dirWrite(db, func(tx *Tx) error {
		var err error
		out, err = tx.SentCopies(account, msgID, store.SentAuto, since)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Two nodes' submissions prune at once: the second skips the records
// the first holds instead of waiting for its commit.
func TestSentCopiesPruneAcrossNodes(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	acct, _ := sentFixture(t, a)
	// a takes both records and holds them until b has pruned: b finds
	// nothing left to prune, at once.
	held, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	var n1, n2 int64
	go func() {
		first <- dirWrite(a, func(tx *Tx) error {
			var err error
			n1, err = tx.PruneSentCopies(dirNow.Add(time.Millisecond))
			close(held)
			<-release
			return err
		})
	}()
	<-held
	waited := time.AfterFunc(5*time.Second, func() { close(release) })
	err := dirWrite(b, func(tx *Tx) error {
		var err error
		n2, err = tx.PruneSentCopies(dirNow.Add(time.Millisecond))
		return err
	})
	if waited.Stop() {
		close(release)
	} else {
		t.Error("the second node waited for the first's pruning")
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err != nil || n1 != 2 || n2 != 0 {
		t.Fatalf("pruned %d and %d (%v), want 2 and 0", n1, n2, err)
	}
	if got := sentCopies(t, b, acct[1], "m1@x.org", dirNow.Add(-time.Hour)); len(got) != 0 {
		t.Fatalf("records left: %+v", got)
	}
}
