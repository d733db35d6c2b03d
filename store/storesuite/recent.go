package storesuite

import (
	"context"
	"errors"
	"testing"

	"pillarbox/store"
)

// Recent checks the claims of \Recent messages: a claim takes the UIDs
// below UIDNext from the last claim on (or from what the caller already
// gave away), once; a new mailbox starts with everything unclaimed.
func Recent(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	account := newAccount(t, db, "alice@example.org")
	mb := newMailbox(t, db, account, "INBOX", "")
	claim := func(atLeast uint32) (first, next uint32) {
		t.Helper()
		write(t, db, func(tx store.Tx) error {
			var err error
			first, next, err = tx.ClaimRecent(mb, atLeast)
			return err
		})
		return first, next
	}
	if m, err := db.MailboxByID(ctx, mb); err != nil || m.RecentUID != 1 {
		t.Fatalf("a new mailbox: RecentUID %d, %v; want 1", m.RecentUID, err)
	}
	for i := range 3 {
		appendMessage(t, db, mb, sizedBlob(10, "<r"+string(rune('0'+i))+"@x>"), 10)
	}
	if first, next := claim(0); first != 1 || next != 4 {
		t.Errorf("first claim: %d to %d, want 1 to 4", first, next)
	}
	if m, err := db.MailboxByID(ctx, mb); err != nil || m.RecentUID != 4 {
		t.Errorf("after the claim: RecentUID %d, %v; want 4", m.RecentUID, err)
	}
	if first, next := claim(0); first < next {
		t.Errorf("a second claim got %d to %d, want nothing", first, next)
	}
	appendMessage(t, db, mb, sizedBlob(10, "<r4@x>"), 10)
	appendMessage(t, db, mb, sizedBlob(10, "<r5@x>"), 10)
	// UID 4 was given to a session in memory: the claim starts after it.
	if first, next := claim(5); first != 5 || next != 6 {
		t.Errorf("claim past 5: %d to %d, want 5 to 6", first, next)
	}
	if m, err := db.MailboxByID(ctx, mb); err != nil || m.RecentUID != 6 {
		t.Errorf("after the last claim: RecentUID %d, %v; want 6", m.RecentUID, err)
	}
	err := db.Write(ctx, func(tx store.Tx) error {
		_, _, err := tx.ClaimRecent(mb+1000, 0)
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim in no mailbox: %v", err)
	}
}
