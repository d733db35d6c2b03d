package storesuite

import (
	"context"
	"testing"
	"time"

	"pillarbox/store"
)

// testNow is when the suite's accounts and mailboxes are made and its
// messages arrive.
var testNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// write runs fn in a write transaction of db, failing t if it fails.
func write(t *testing.T, db store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := db.Write(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// writeAll runs add on each of items, in one write.
func writeAll[T any](t *testing.T, db store.Store, add func(store.Tx, T) error, items ...T) {
	t.Helper()
	write(t, db, func(tx store.Tx) error {
		for _, it := range items {
			if err := add(tx, it); err != nil {
				return err
			}
		}
		return nil
	})
}

// newAccount makes an account of address and returns its id.
func newAccount(t *testing.T, db store.Store, address string) int64 {
	t.Helper()
	var id int64
	write(t, db, func(tx store.Tx) error {
		var err error
		id, err = tx.CreateAccount(address, "x", testNow)
		return err
	})
	return id
}

// newMailbox makes a subscribed mailbox of account and returns its id.
func newMailbox(t *testing.T, db store.Store, account int64, name, specialUse string) int64 {
	t.Helper()
	var id int64
	write(t, db, func(tx store.Tx) error {
		mb, err := tx.CreateMailbox(account, name, specialUse, true, testNow)
		id = mb.ID
		return err
	})
	return id
}

// sizedBlob is a blob of size octets with the given Message-ID.
func sizedBlob(size int64, messageID string) *store.Blob {
	return &store.Blob{Data: make([]byte, size), MessageID: messageID, Envelope: []byte("{}"), Structure: []byte("{}")}
}

// appendMessage stores blob and appends it to mailbox as a message of
// size octets that arrived at testNow, in one write, and returns its UID.
func appendMessage(t *testing.T, db store.Store, mailbox int64, blob *store.Blob, size int64) uint32 {
	t.Helper()
	var uid uint32
	write(t, db, func(tx store.Tx) error {
		id, err := tx.InsertBlob(blob)
		if err != nil {
			return err
		}
		row, err := tx.AppendMessage(store.NewMessage{MailboxID: mailbox, BlobID: id, InternalDate: testNow, Size: size})
		uid = row.UID
		return err
	})
	return uid
}
