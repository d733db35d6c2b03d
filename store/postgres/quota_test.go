package postgres

import (
	"context"
	"errors"
	"testing"

	"pillarbox/store"
)

// SetQuota sets the limit that Quota reads back, refuses a negative one
// and an unknown account; Fits follows the limit, 0 meaning none.
func TestSetQuota(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	var id int64
	err := dirWrite(db, func(tx *Tx) error {
		var err error
		id, err = tx.CreateAccount("alice@example.org", "x", dirNow)
		if err != nil {
			return err
		}
		return tx.SetQuota("alice@example.org", 5000)
	})
	if err != nil {
		t.Fatal(err)
	}
	q, err := db.Quota(ctx, id)
	if err != nil || q.Limit != 5000 || q.Usage != 0 {
		t.Fatalf("quota %+v, %v", q, err)
	}
	if !q.Fits(5000) || q.Fits(5001) || !(store.Quota{}).Fits(1<<40) {
		t.Errorf("Fits is wrong for %+v", q)
	}
	if a, err := db.AccountByAddress(ctx, "alice@example.org"); err != nil || a.Quota != 5000 {
		t.Errorf("account %+v, %v", a, err)
	}
	err = dirWrite(db, func(tx *Tx) error { return tx.SetQuota("nobody@example.org", 1) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("quota of an unknown account: %v", err)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.SetQuota("alice@example.org", -1) }); err == nil {
		t.Error("a negative quota was set")
	}
	if q, _ := db.Quota(ctx, id); q.Limit != 5000 {
		t.Errorf("a refused limit changed the quota: %+v", q)
	}
	if _, err := db.Quota(ctx, id+1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DB.Quota of no account: %v", err)
	}
	err = dirWrite(db, func(tx *Tx) error {
		_, err := tx.Quota(id + 1)
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Tx.Quota of no account: %v", err)
	}
}

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

// SizeOfUIDs sums the sizes of a mailbox's messages within the ranges:
// what a COPY would add, known before it writes.
func TestSizeOfUIDs(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct := dirAccounts(t, db, "alice@example.org")[0]
	box := sentMessage(t, db, acct, "INBOX") // UID 1, 30 octets
	other := sentMessage(t, db, acct, "Other")
	for uid, size := range map[int]int{2: 20, 3: 3, 4000000000: 5} {
		exec(t, db.pool, `INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size)
			SELECT mailbox_id, $2, 1, blob_id, 1, $3 FROM messages WHERE mailbox_id = $1 AND uid = 1`, box, uid, size)
	}
	var got [6]int64
	err := dirWrite(db, func(tx *Tx) error {
		for i, rs := range [][]store.UIDRange{
			{{Start: 1, Stop: 3}},
			{{Start: 2, Stop: 2}, {Start: 3, Stop: 9}},
			{{Start: 4, Stop: 9}},
			nil,
			{{Start: 1, Stop: 2}, {Start: 2, Stop: 3}}, // overlapping: UID 2 counts twice, as in SQLite
			{{Start: 3, Stop: 4294967295}},             // UIDs above 2^31
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
	if want := [6]int64{53, 23, 0, 0, 73, 8}; got != want {
		t.Fatalf("SizeOfUIDs = %v, want %v", got, want)
	}
	err = dirWrite(db, func(tx *Tx) error {
		n, err := tx.SizeOfUIDs(other, []store.UIDRange{{Start: 2, Stop: 3}})
		if n != 0 || err != nil {
			t.Errorf("another folder's UIDs 2:3: %d, %v", n, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
