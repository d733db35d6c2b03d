package postgres

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

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

func sentCopies(t *testing.T, db *DB, account int64, msgID string, since time.Time) []store.SentCopy {
	t.Helper()
	return sentCopiesOf(t, db, account, msgID, store.SentAuto, since)
}

// sentCopiesOf reads the records of an account inside a write.
func sentCopiesOf(t *testing.T, db *DB, account int64, msgID, kind string, since time.Time) []store.SentCopy {
	t.Helper()
	var out []store.SentCopy
	err := dirWrite(db, func(tx *Tx) error {
		var err error
		out, err = tx.SentCopies(account, msgID, kind, since)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSentCopiesLookup(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct, boxes := sentFixture(t, db)

	got := sentCopies(t, db, acct[0], "m1@x.org", dirNow.Add(-time.Minute))
	if len(got) != 1 || got[0].MailboxID != boxes[0] || got[0].UID != 1 || got[0].AccountID != acct[0] ||
		got[0].Kind != store.SentAuto || !got[0].Saved.Equal(dirNow) || got[0].MessageID != "m1@x.org" {
		t.Fatalf("account a's copies = %+v, want its own one at UID 1 in mailbox %d", got, boxes[0])
	}
	// Kinds are apart.
	if got := sentCopiesOf(t, db, acct[0], "m1@x.org", store.SentUpload, dirNow.Add(-time.Minute)); len(got) != 0 {
		t.Errorf("uploads = %+v, want none", got)
	}
	// The window is inclusive at its start, to the millisecond.
	if got := sentCopies(t, db, acct[0], "m1@x.org", dirNow); len(got) != 1 {
		t.Errorf("saved exactly at since: %d copies, want 1", len(got))
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", dirNow.Add(time.Millisecond)); len(got) != 0 {
		t.Errorf("saved 1 ms before since: %d copies, want 0", len(got))
	}
	for _, id := range []string{"m2@x.org", "M1@x.org", ""} {
		if got := sentCopies(t, db, acct[0], id, dirNow.Add(-time.Hour)); len(got) != 0 {
			t.Errorf("Message-ID %q matched %+v", id, got)
		}
	}
	// Each account sees only its own copy, though both share the
	// Message-ID.
	if got := sentCopies(t, db, acct[1], "m1@x.org", dirNow.Add(-time.Hour)); len(got) != 1 || got[0].MailboxID != boxes[1] {
		t.Errorf("account b's copies = %+v, want only its own", got)
	}
}

// Several copies of one message come by mailbox, then UID.
func TestSentCopiesOrder(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct := dirAccounts(t, db, "a@x.org")[0]
	b1, b2 := sentMessage(t, db, acct, "Sent"), sentMessage(t, db, acct, "Sent2")
	exec(t, db.pool, `INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size)
		SELECT mailbox_id, 2, 1, blob_id, 1, 30 FROM messages WHERE mailbox_id = $1`, b1)
	err := dirWrite(db, func(tx *Tx) error {
		for _, at := range []struct {
			box int64
			uid uint32
		}{{b2, 1}, {b1, 2}, {b1, 1}} {
			err := tx.AddSentCopy(store.SentCopy{MailboxID: at.box, UID: at.uid, AccountID: acct, MessageID: "m@x", Kind: store.SentUpload, Saved: dirNow})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := sentCopiesOf(t, db, acct, "m@x", store.SentUpload, dirNow)
	if len(got) != 3 || got[0].MailboxID != b1 || got[0].UID != 1 || got[1].UID != 2 || got[2].MailboxID != b2 {
		t.Fatalf("copies %+v, want %d/1, %d/2, %d/1", got, b1, b1, b2)
	}
}

// A record whose account differs from its mailbox's never matches, for
// either account.
func TestSentCopiesMailboxOfAnotherAccount(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct, boxes := sentFixture(t, db)
	exec(t, db.pool, `UPDATE sent_copies SET account_id = $1 WHERE mailbox_id = $2`, acct[1], boxes[0])
	if got := sentCopies(t, db, acct[1], "m1@x.org", dirNow.Add(-time.Hour)); len(got) != 1 || got[0].MailboxID != boxes[1] {
		t.Errorf("account b's copies = %+v, want only the one in its own mailbox %d", got, boxes[1])
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", dirNow.Add(-time.Hour)); len(got) != 0 {
		t.Errorf("account a's copies = %+v, want none", got)
	}
}

// The record goes with its message, however the message goes.
func TestSentCopiesFollowTheirMessage(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct, boxes := sentFixture(t, db)
	since := dirNow.Add(-time.Hour)
	exec(t, db.pool, `DELETE FROM messages WHERE mailbox_id = $1 AND uid = 1`, boxes[0])
	if got := sentCopies(t, db, acct[0], "m1@x.org", since); len(got) != 0 {
		t.Errorf("after the message was removed: %+v", got)
	}
	exec(t, db.pool, `DELETE FROM mailboxes WHERE id = $1`, boxes[1])
	if got := sentCopies(t, db, acct[1], "m1@x.org", since); len(got) != 0 {
		t.Errorf("after the mailbox was deleted: %+v", got)
	}
	var n int
	query1(t, db.pool, "SELECT count(*) FROM sent_copies", &n)
	if n != 0 {
		t.Errorf("%d records left", n)
	}
}

func TestSentCopiesPrune(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct, _ := sentFixture(t, db)
	prune := func(cutoff time.Time) int64 {
		var n int64
		if err := dirWrite(db, func(tx *Tx) error {
			var err error
			n, err = tx.PruneSentCopies(cutoff)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := prune(dirNow); n != 0 {
		t.Fatalf("pruned %d records saved at the cutoff, want 0", n)
	}
	if n := prune(dirNow.Add(time.Millisecond)); n != 2 {
		t.Fatalf("pruned %d records saved before the cutoff, want 2", n)
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", dirNow.Add(-time.Hour)); len(got) != 0 {
		t.Errorf("pruned record still found: %+v", got)
	}
	// The messages stay.
	var n int
	query1(t, db.pool, "SELECT count(*) FROM messages", &n)
	if n != 2 {
		t.Errorf("%d messages after pruning, want 2", n)
	}
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

func TestAddSentCopyRefusesEmptyMessageID(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	err := dirWrite(db, func(tx *Tx) error {
		return tx.AddSentCopy(store.SentCopy{MailboxID: 1, UID: 1, AccountID: 1, Kind: store.SentAuto, Saved: dirNow})
	})
	if err == nil || !strings.Contains(err.Error(), "empty Message-ID") {
		t.Fatalf("err = %v, want the empty Message-ID refused", err)
	}
}

func TestAddSentCopyRefusesUnknownKind(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct := dirAccounts(t, db, "a@x.org")[0]
	box := sentMessage(t, db, acct, "Sent")
	err := dirWrite(db, func(tx *Tx) error {
		return tx.AddSentCopy(store.SentCopy{MailboxID: box, UID: 1, AccountID: acct, MessageID: "m@x", Kind: "other", Saved: dirNow})
	})
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "23514" {
		t.Fatalf("err = %v, want the CHECK constraint to refuse it", err)
	}
}

// A second record of one message is ErrExists, and the transaction goes
// on; a record of no message is refused by the foreign key.
func TestAddSentCopyTwice(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct, boxes := sentFixture(t, db)
	err := dirWrite(db, func(tx *Tx) error {
		err := tx.AddSentCopy(store.SentCopy{MailboxID: boxes[0], UID: 1, AccountID: acct[0], MessageID: "m2@x.org", Kind: store.SentUpload, Saved: dirNow})
		if !errors.Is(err, store.ErrExists) {
			t.Errorf("a second record: %v, want ErrExists", err)
		}
		_, err = tx.PruneSentCopies(dirNow)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", dirNow); len(got) != 1 {
		t.Fatalf("the first record: %+v", got)
	}
	err = dirWrite(db, func(tx *Tx) error {
		return tx.AddSentCopy(store.SentCopy{MailboxID: boxes[0], UID: 9, AccountID: acct[0], MessageID: "m@x", Kind: store.SentAuto, Saved: dirNow})
	})
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "23503" {
		t.Fatalf("a record of no message: %v, want a foreign key violation", err)
	}
}
