package postgres

import (
	"context"
	"testing"

	"pillarbox/store"
)

// Tx.Quota sees the transaction's own messages (the usage triggers run
// in it); DB.Quota sees them once committed.
func TestQuotaInsideTheWrite(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	acct := dirAccounts(t, db, "a@x.org")[0]
	box := sentMessage(t, db, acct, "INBOX") // one message of 30 octets
	err := dirWrite(db, func(tx *Tx) error {
		if _, err := tx.exec(`INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size)
			SELECT mailbox_id, 2, 1, blob_id, 1, 70 FROM messages WHERE mailbox_id = $1`, box); err != nil {
			return err
		}
		q, err := tx.Quota(acct)
		if err != nil || q.Usage != 100 {
			t.Errorf("inside the write: %+v, %v; want usage 100", q, err)
		}
		if q, _ := db.Quota(ctx, acct); q.Usage != 30 {
			t.Errorf("outside, before the commit: usage %d, want 30", q.Usage)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := db.Quota(ctx, acct); q.Usage != 100 {
		t.Errorf("after the commit: usage %d, want 100", q.Usage)
	}
}

// SizeOfUIDs counts a message whose UID is above 2^31 (the suite's
// messages cannot have one: AppendMessage counts up from 1), in the
// ranges that hold it only.
func TestSizeOfUIDsAbove2To31(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct := dirAccounts(t, db, "alice@example.org")[0]
	box := sentMessage(t, db, acct, "INBOX") // UID 1, 30 octets
	exec(t, db.pool, `INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size)
		SELECT mailbox_id, 4000000000, 1, blob_id, 1, 5 FROM messages WHERE mailbox_id = $1 AND uid = 1`, box)
	var got [3]int64
	err := dirWrite(db, func(tx *Tx) error {
		for i, rs := range [][]store.UIDRange{
			{{Start: 1, Stop: 3}},
			{{Start: 2, Stop: 4294967295}},
			{{Start: 4000000000, Stop: 4000000000}},
		} {
			var err error
			if got[i], err = tx.SizeOfUIDs(box, rs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := [3]int64{30, 5, 5}; got != want {
		t.Fatalf("SizeOfUIDs = %v, want %v", got, want)
	}
}
