package storesuite

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"pillarbox/store"
)

// Refusals tell the suites how to know which of a driver's schema
// constraints refused a write: the store interfaces leave the error to
// the driver.
type Refusals struct {
	// Check reports whether err is a CHECK constraint's refusal.
	Check func(err error) bool
	// ForeignKey reports whether err is a foreign key's refusal.
	ForeignKey func(err error) bool
}

// SentCopies checks the records of recent Sent copies: a lookup finds
// an account's own records of one kind and Message-ID saved within the
// window, by mailbox and UID; a record goes with its message, pruning
// forgets old records and keeps the messages, and a record without a
// Message-ID, of an unknown kind, of no message or of a message that
// has one already is refused.
func SentCopies(t *testing.T, open Opener, refused Refusals) {
	t.Run("Lookup", func(t *testing.T) { t.Parallel(); sentLookup(t, open) })
	t.Run("Order", func(t *testing.T) { t.Parallel(); sentOrder(t, open) })
	t.Run("MailboxOfAnotherAccount", func(t *testing.T) { t.Parallel(); sentMailboxOfAnotherAccount(t, open) })
	t.Run("FollowTheirMessage", func(t *testing.T) { t.Parallel(); sentFollowTheirMessage(t, open) })
	t.Run("Prune", func(t *testing.T) { t.Parallel(); sentPrune(t, open) })
	t.Run("RefusesEmptyMessageID", func(t *testing.T) { t.Parallel(); sentRefusesEmptyMessageID(t, open) })
	t.Run("RefusesUnknownKind", func(t *testing.T) { t.Parallel(); sentRefusesUnknownKind(t, open, refused) })
	t.Run("AddTwice", func(t *testing.T) { t.Parallel(); sentAddTwice(t, open, refused) })
}

// sentFixture makes two accounts, a@x.org and b@x.org, each with a
// \Sent mailbox holding one message of 30 octets at UID 1, both with
// the Message-ID m1@x.org, and no record of either.
func sentFixture(t *testing.T, db store.Store) (accounts, boxes [2]int64) {
	t.Helper()
	for i, addr := range []string{"a@x.org", "b@x.org"} {
		accounts[i] = newAccount(t, db, addr)
		boxes[i] = newMailbox(t, db, accounts[i], "Sent", `\Sent`)
		if uid := appendMessage(t, db, boxes[i], sizedBlob(30, "m1@x.org"), 30); uid != 1 {
			t.Fatalf("the first message of a new mailbox has UID %d", uid)
		}
	}
	return accounts, boxes
}

// sentAuto is the record of the message at UID 1 of box as an automatic
// copy of account's, saved at testNow.
func sentAuto(box, account int64) store.SentCopy {
	return store.SentCopy{MailboxID: box, UID: 1, AccountID: account, MessageID: "m1@x.org", Kind: store.SentAuto, Saved: testNow}
}

// sentRecorded is sentFixture with each message recorded as its
// account's automatic copy.
func sentRecorded(t *testing.T, db store.Store) (accounts, boxes [2]int64) {
	t.Helper()
	accounts, boxes = sentFixture(t, db)
	writeAll(t, db, store.Tx.AddSentCopy, sentAuto(boxes[0], accounts[0]), sentAuto(boxes[1], accounts[1]))
	return accounts, boxes
}

// sentCopies reads the records of an account inside a write.
func sentCopies(t *testing.T, db store.Store, account int64, msgID, kind string, since time.Time) []store.SentCopy {
	t.Helper()
	var out []store.SentCopy
	write(t, db, func(tx store.Tx) error {
		var err error
		out, err = tx.SentCopies(account, msgID, kind, since)
		return err
	})
	return out
}

// pruneSentCopies prunes the records saved before cutoff in a write of
// its own and returns how many went.
func pruneSentCopies(t *testing.T, db store.Store, cutoff time.Time) int64 {
	t.Helper()
	var n int64
	write(t, db, func(tx store.Tx) error {
		var err error
		n, err = tx.PruneSentCopies(cutoff)
		return err
	})
	return n
}

func sentLookup(t *testing.T, open Opener) {
	db := open(t)
	acct, boxes := sentRecorded(t, db)

	got := sentCopies(t, db, acct[0], "m1@x.org", store.SentAuto, testNow.Add(-time.Minute))
	if len(got) != 1 || got[0].MailboxID != boxes[0] || got[0].UID != 1 || got[0].AccountID != acct[0] ||
		got[0].Kind != store.SentAuto || !got[0].Saved.Equal(testNow) || got[0].MessageID != "m1@x.org" {
		t.Fatalf("account a's copies = %+v, want its own one at UID 1 in mailbox %d", got, boxes[0])
	}
	// Kinds are apart.
	if got := sentCopies(t, db, acct[0], "m1@x.org", store.SentUpload, testNow.Add(-time.Minute)); len(got) != 0 {
		t.Errorf("uploads = %+v, want none", got)
	}
	// The window is inclusive at its start, to the millisecond.
	if got := sentCopies(t, db, acct[0], "m1@x.org", store.SentAuto, testNow); len(got) != 1 {
		t.Errorf("saved exactly at since: %d copies, want 1", len(got))
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", store.SentAuto, testNow.Add(time.Millisecond)); len(got) != 0 {
		t.Errorf("saved 1 ms before since: %d copies, want 0", len(got))
	}
	for _, id := range []string{"m2@x.org", "M1@x.org", ""} {
		if got := sentCopies(t, db, acct[0], id, store.SentAuto, testNow.Add(-time.Hour)); len(got) != 0 {
			t.Errorf("Message-ID %q matched %+v", id, got)
		}
	}
	// Each account sees only its own copy, though both share the
	// Message-ID.
	if got := sentCopies(t, db, acct[1], "m1@x.org", store.SentAuto, testNow.Add(-time.Hour)); len(got) != 1 || got[0].MailboxID != boxes[1] {
		t.Errorf("account b's copies = %+v, want only its own", got)
	}
}

// Several copies of one message come by mailbox, then UID.
func sentOrder(t *testing.T, open Opener) {
	db := open(t)
	acct := newAccount(t, db, "a@x.org")
	b1, b2 := newMailbox(t, db, acct, "Sent", `\Sent`), newMailbox(t, db, acct, "Sent2", "")
	type at struct {
		box int64
		uid uint32
	}
	var copies []at
	for _, box := range []int64{b2, b1, b1} {
		copies = append(copies, at{box, appendMessage(t, db, box, sizedBlob(30, "m@x"), 30)})
	}
	// Recorded out of order: b2's, then b1's second before its first.
	copies[1], copies[2] = copies[2], copies[1]
	var records []store.SentCopy
	for _, c := range copies {
		records = append(records, store.SentCopy{MailboxID: c.box, UID: c.uid, AccountID: acct, MessageID: "m@x", Kind: store.SentUpload, Saved: testNow})
	}
	writeAll(t, db, store.Tx.AddSentCopy, records...)
	want := slices.Clone(copies)
	slices.SortFunc(want, func(a, b at) int { return cmp.Or(cmp.Compare(a.box, b.box), cmp.Compare(a.uid, b.uid)) })
	var got []at
	for _, c := range sentCopies(t, db, acct, "m@x", store.SentUpload, testNow) {
		got = append(got, at{c.MailboxID, c.UID})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("copies %v, want %v", got, want)
	}
}

// A record whose account differs from its mailbox's never matches, for
// either account.
func sentMailboxOfAnotherAccount(t *testing.T, open Opener) {
	db := open(t)
	acct, boxes := sentFixture(t, db)
	writeAll(t, db, store.Tx.AddSentCopy, sentAuto(boxes[0], acct[1]), sentAuto(boxes[1], acct[1]))
	if got := sentCopies(t, db, acct[1], "m1@x.org", store.SentAuto, testNow.Add(-time.Hour)); len(got) != 1 || got[0].MailboxID != boxes[1] {
		t.Errorf("account b's copies = %+v, want only the one in its own mailbox %d", got, boxes[1])
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", store.SentAuto, testNow.Add(-time.Hour)); len(got) != 0 {
		t.Errorf("account a's copies = %+v, want none", got)
	}
}

// The record goes with its message, however the message goes.
func sentFollowTheirMessage(t *testing.T, open Opener) {
	db := open(t)
	acct, boxes := sentRecorded(t, db)
	since := testNow.Add(-time.Hour)

	// Removed from its mailbox (EXPUNGE, MOVE).
	write(t, db, func(tx store.Tx) error {
		_, err := tx.RemoveMessages(boxes[0], []uint32{1})
		return err
	})
	if got := sentCopies(t, db, acct[0], "m1@x.org", store.SentAuto, since); len(got) != 0 {
		t.Errorf("after the message was removed: %+v", got)
	}
	// Its mailbox deleted.
	write(t, db, func(tx store.Tx) error { return tx.DeleteMailbox(boxes[1]) })
	if got := sentCopies(t, db, acct[1], "m1@x.org", store.SentAuto, since); len(got) != 0 {
		t.Errorf("after the mailbox was deleted: %+v", got)
	}
	// Nor is either left where no lookup reaches it: pruning every
	// record finds none.
	if n := pruneSentCopies(t, db, testNow.Add(time.Hour)); n != 0 {
		t.Errorf("%d records left", n)
	}
}

func sentPrune(t *testing.T, open Opener) {
	db := open(t)
	acct, boxes := sentRecorded(t, db)
	if n := pruneSentCopies(t, db, testNow); n != 0 {
		t.Fatalf("pruned %d records saved at the cutoff, want 0", n)
	}
	if n := pruneSentCopies(t, db, testNow.Add(time.Millisecond)); n != 2 {
		t.Fatalf("pruned %d records saved before the cutoff, want 2", n)
	}
	if got := sentCopies(t, db, acct[0], "m1@x.org", store.SentAuto, testNow.Add(-time.Hour)); len(got) != 0 {
		t.Errorf("pruned record still found: %+v", got)
	}
	// The messages stay.
	for _, box := range boxes {
		if n, err := db.CountMessages(context.Background(), box); err != nil || n != 1 {
			t.Errorf("mailbox %d holds %d messages after pruning (%v), want 1", box, n, err)
		}
	}
}

func sentRefusesEmptyMessageID(t *testing.T, open Opener) {
	db := open(t)
	acct, boxes := sentFixture(t, db)
	c := sentAuto(boxes[0], acct[0])
	c.MessageID = ""
	err := db.Write(context.Background(), func(tx store.Tx) error { return tx.AddSentCopy(c) })
	if err == nil || !strings.Contains(err.Error(), "empty Message-ID") {
		t.Fatalf("err = %v, want the empty Message-ID refused", err)
	}
}

func sentRefusesUnknownKind(t *testing.T, open Opener, refused Refusals) {
	db := open(t)
	acct, boxes := sentFixture(t, db)
	c := sentAuto(boxes[0], acct[0])
	c.Kind = "other"
	err := db.Write(context.Background(), func(tx store.Tx) error { return tx.AddSentCopy(c) })
	if err == nil || !refused.Check(err) {
		t.Fatalf("err = %v, want the CHECK constraint to refuse it", err)
	}
}

// A second record of one message is ErrExists, and the transaction goes
// on; a record of no message is refused by the foreign key.
func sentAddTwice(t *testing.T, open Opener, refused Refusals) {
	db := open(t)
	acct, boxes := sentRecorded(t, db)
	write(t, db, func(tx store.Tx) error {
		err := tx.AddSentCopy(store.SentCopy{MailboxID: boxes[0], UID: 1, AccountID: acct[0], MessageID: "m2@x.org", Kind: store.SentUpload, Saved: testNow})
		if !errors.Is(err, store.ErrExists) {
			t.Errorf("a second record: %v, want ErrExists", err)
		}
		_, err = tx.PruneSentCopies(testNow)
		return err
	})
	if got := sentCopies(t, db, acct[0], "m1@x.org", store.SentAuto, testNow); len(got) != 1 {
		t.Fatalf("the first record: %+v", got)
	}
	if got := sentCopies(t, db, acct[0], "m2@x.org", store.SentUpload, testNow); len(got) != 0 {
		t.Fatalf("the refused record was kept: %+v", got)
	}
	c := sentAuto(boxes[0], acct[0])
	c.UID = 9
	err := db.Write(context.Background(), func(tx store.Tx) error { return tx.AddSentCopy(c) })
	if err == nil || !refused.ForeignKey(err) {
		t.Fatalf("a record of no message: %v, want a foreign key violation", err)
	}
}
