package storesuite

import (
	"context"
	"errors"
	"testing"

	"pillarbox/store"
)

// Quota checks the storage quota's limit and what a copy would add to
// its usage.
func Quota(t *testing.T, open Opener) {
	t.Run("SetQuota", func(t *testing.T) { t.Parallel(); quotaSet(t, open) })
	t.Run("SizeOfUIDs", func(t *testing.T) { t.Parallel(); quotaSizeOfUIDs(t, open) })
}

// SetQuota sets the limit that Quota reads back, refuses a negative one
// and an unknown account; Fits follows the limit, 0 meaning none.
func quotaSet(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	var id int64
	write(t, db, func(tx store.Tx) error {
		var err error
		id, err = tx.CreateAccount("alice@example.org", "x", testNow)
		if err != nil {
			return err
		}
		return tx.SetQuota("alice@example.org", 5000)
	})
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
	err = db.Write(ctx, func(tx store.Tx) error { return tx.SetQuota("nobody@example.org", 1) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("quota of an unknown account: %v", err)
	}
	if err := db.Write(ctx, func(tx store.Tx) error { return tx.SetQuota("alice@example.org", -1) }); err == nil {
		t.Error("a negative quota was set")
	}
	if q, _ := db.Quota(ctx, id); q.Limit != 5000 {
		t.Errorf("a refused limit changed the quota: %+v", q)
	}
	if _, err := db.Quota(ctx, id+1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Store.Quota of no account: %v", err)
	}
	err = db.Write(ctx, func(tx store.Tx) error {
		_, err := tx.Quota(id + 1)
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Tx.Quota of no account: %v", err)
	}
}

// SizeOfUIDs sums the sizes of a mailbox's messages within the ranges:
// what a COPY would add, known before it writes.
func quotaSizeOfUIDs(t *testing.T, open Opener) {
	db := open(t)
	acct := newAccount(t, db, "alice@example.org")
	box, other := newMailbox(t, db, acct, "INBOX", ""), newMailbox(t, db, acct, "Other", "")
	for _, size := range []int64{100, 20, 3} { // UIDs 1 to 3
		appendMessage(t, db, box, sizedBlob(size, ""), size)
	}
	appendMessage(t, db, other, sizedBlob(30, ""), 30)
	var got [6]int64
	write(t, db, func(tx store.Tx) error {
		for i, rs := range [][]store.UIDRange{
			{{Start: 1, Stop: 3}},
			{{Start: 2, Stop: 2}, {Start: 3, Stop: 9}},
			{{Start: 4, Stop: 9}},
			nil,
			{{Start: 1, Stop: 2}, {Start: 2, Stop: 3}}, // overlapping: UID 2 counts twice
			{{Start: 3, Stop: 4294967295}},             // up to the largest UID
		} {
			var err error
			if got[i], err = tx.SizeOfUIDs(box, rs); err != nil {
				return err
			}
		}
		return nil
	})
	if want := [6]int64{123, 23, 0, 0, 143, 3}; got != want {
		t.Fatalf("SizeOfUIDs = %v, want %v", got, want)
	}
	// In another folder, only that folder's messages count.
	write(t, db, func(tx store.Tx) error {
		if n, err := tx.SizeOfUIDs(other, []store.UIDRange{{Start: 2, Stop: 3}}); n != 0 || err != nil {
			t.Errorf("another folder's UIDs 2:3: %d, %v", n, err)
		}
		if n, err := tx.SizeOfUIDs(other, []store.UIDRange{{Start: 1, Stop: 3}}); n != 30 || err != nil {
			t.Errorf("another folder's UIDs 1:3: %d, %v", n, err)
		}
		return nil
	})
}
