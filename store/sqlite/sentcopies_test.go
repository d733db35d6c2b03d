package sqlite

import (
	"context"
	"pillarbox/store"
	"strings"
	"testing"
	"time"
)

// sentFixture makes two accounts, each with a Sent mailbox holding one
// message with the same Message-ID, and records both as automatic
// copies saved at testNow.
func sentFixture(t *testing.T, db *DB) (accounts [2]int64, boxes [2]store.Mailbox) {
	t.Helper()
	err := db.write(context.Background(), func(tx *Tx) error {
		for i, addr := range []string{"a@x.org", "b@x.org"} {
			id, err := tx.CreateAccount(addr, "h", testNow)
			if err != nil {
				return err
			}
			mb, err := tx.CreateMailbox(id, "Sent", `\Sent`, true, testNow)
			if err != nil {
				return err
			}
			bid, err := tx.InsertBlob(&store.Blob{Data: []byte("Message-ID: <m1@x.org>\r\n\r\nbody\r\n"), MessageID: "m1@x.org",
				Envelope: []byte("{}"), Structure: []byte("{}")})
			if err != nil {
				return err
			}
			uid, _, err := tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: bid, InternalDate: testNow, Size: 30, Flags: store.FlagSeen})
			if err != nil {
				return err
			}
			if err := tx.AddSentCopy(store.SentCopy{MailboxID: mb.ID, UID: uid, AccountID: id, MessageID: "m1@x.org", Kind: store.SentAuto, Saved: testNow}); err != nil {
				return err
			}
			accounts[i], boxes[i] = id, mb
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return accounts, boxes
}

// sentCopies reads the records of an account inside a write.
func sentCopies(t *testing.T, db *DB, account int64, msgID string, since time.Time) []store.SentCopy {
	t.Helper()
	return sentCopiesOf(t, db, account, msgID, store.SentAuto, since)
}

func sentCopiesOf(t *testing.T, db *DB, account int64, msgID, kind string, since time.Time) []store.SentCopy {
	t.Helper()
	var out []store.SentCopy
	err := db.write(context.Background(), func(tx *Tx) error {
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
	db := openTest(t, Options{})
	acct, boxes := sentFixture(t, db)

	got := sentCopies(t, db, acct[0], "m1@x.org", testNow.Add(-time.Minute))
	if len(got) != 1 || got[0].MailboxID != boxes[0].ID || got[0].UID != 1 || got[0].AccountID != acct[0] ||
		got[0].Kind != store.SentAuto || !got[0].Saved.Equal(testNow) {
		t.Fatalf("account a's copies = %+v, want its own one at UID 1 in mailbox %d", got, boxes[0].ID)
	}
	// Kinds are apart.
	if got := sentCopiesOf(t, db, acct[0], "m1@x.org", store.SentUpload, testNow.Add(-time.Minute)); len(got) != 0 {
		t.Errorf("uploads = %+v, want none", got)
	}
	// The window is inclusive at its start, to the millisecond.
	if got := sentCopies(t, db, acct[0], "m1@x.org", testNow); len(got) != 1 {
		t.Errorf("saved exactly at since: %d copies, want 1", len(got))
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", testNow.Add(time.Millisecond)); len(got) != 0 {
		t.Errorf("saved 1 ms before since: %d copies, want 0", len(got))
	}
	for _, id := range []string{"m2@x.org", "M1@x.org", ""} {
		if got := sentCopies(t, db, acct[0], id, testNow.Add(-time.Hour)); len(got) != 0 {
			t.Errorf("Message-ID %q matched %+v", id, got)
		}
	}
	// Each account sees only its own copy, though both share the
	// Message-ID.
	if got := sentCopies(t, db, acct[1], "m1@x.org", testNow.Add(-time.Hour)); len(got) != 1 || got[0].MailboxID != boxes[1].ID {
		t.Errorf("account b's copies = %+v, want only its own", got)
	}
}

// A record whose account differs from its mailbox's never matches, for
// either account.
func TestSentCopiesMailboxOfAnotherAccount(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	acct, boxes := sentFixture(t, db)
	err := db.write(context.Background(), func(tx *Tx) error {
		_, err := tx.exec(`UPDATE sent_copies SET account_id = ? WHERE mailbox_id = ?`, acct[1], boxes[0].ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := sentCopies(t, db, acct[1], "m1@x.org", testNow.Add(-time.Hour)); len(got) != 1 || got[0].MailboxID != boxes[1].ID {
		t.Errorf("account b's copies = %+v, want only the one in its own mailbox %d", got, boxes[1].ID)
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", testNow.Add(-time.Hour)); len(got) != 0 {
		t.Errorf("account a's copies = %+v, want none", got)
	}
}

// The record goes with its message, however the message goes.
func TestSentCopiesFollowTheirMessage(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	acct, boxes := sentFixture(t, db)
	since := testNow.Add(-time.Hour)

	// Removed from its mailbox (EXPUNGE, MOVE).
	err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.RemoveMessages(boxes[0].ID, []uint32{1})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", since); len(got) != 0 {
		t.Errorf("after the message was removed: %+v", got)
	}
	// Its mailbox deleted.
	if err := db.write(ctx, func(tx *Tx) error { return tx.DeleteMailbox(boxes[1].ID) }); err != nil {
		t.Fatal(err)
	}
	if got := sentCopies(t, db, acct[1], "m1@x.org", since); len(got) != 0 {
		t.Errorf("after the mailbox was deleted: %+v", got)
	}
	var n int
	db.rdb.QueryRowContext(ctx, "SELECT count(*) FROM sent_copies").Scan(&n)
	if n != 0 {
		t.Errorf("%d records left", n)
	}
}

func TestSentCopiesPrune(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	acct, _ := sentFixture(t, db)
	prune := func(cutoff time.Time) int64 {
		var n int64
		if err := db.write(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.PruneSentCopies(cutoff)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := prune(testNow); n != 0 {
		t.Fatalf("pruned %d records saved at the cutoff, want 0", n)
	}
	if n := prune(testNow.Add(time.Millisecond)); n != 2 {
		t.Fatalf("pruned %d records saved before the cutoff, want 2", n)
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", testNow.Add(-time.Hour)); len(got) != 0 {
		t.Errorf("pruned record still found: %+v", got)
	}
	// The messages stay.
	var n int
	db.rdb.QueryRowContext(ctx, "SELECT count(*) FROM messages").Scan(&n)
	if n != 2 {
		t.Errorf("%d messages after pruning, want 2", n)
	}
}

func TestAddSentCopyRefusesEmptyMessageID(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	err := db.write(context.Background(), func(tx *Tx) error {
		return tx.AddSentCopy(store.SentCopy{MailboxID: 1, UID: 1, AccountID: 1, Kind: store.SentAuto, Saved: testNow})
	})
	if err == nil || !strings.Contains(err.Error(), "empty Message-ID") {
		t.Fatalf("err = %v, want the empty Message-ID refused", err)
	}
}

func TestAddSentCopyRefusesUnknownKind(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	_, boxes := sentFixture(t, db)
	err := db.write(context.Background(), func(tx *Tx) error {
		uid, _, err := tx.AppendMessage(store.NewMessage{MailboxID: boxes[0].ID, BlobID: 1, InternalDate: testNow, Size: 30})
		if err != nil {
			return err
		}
		return tx.AddSentCopy(store.SentCopy{MailboxID: boxes[0].ID, UID: uid, AccountID: boxes[0].AccountID, MessageID: "m@x", Kind: "other", Saved: testNow})
	})
	if err == nil || !strings.Contains(err.Error(), "CHECK") {
		t.Fatalf("err = %v, want the CHECK constraint to refuse it", err)
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
