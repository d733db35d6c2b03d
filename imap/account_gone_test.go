package imap

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestDeletedAccountSessionEnds is the takeover found by hostile testing:
// dave's session stayed open after `user del dave`, and when erin was
// added next she got dave's old account id, so dave's session read her
// INBOX. Now the session gets BYE when the account goes, and erin's id
// is new.
func TestDeletedAccountSessionEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.AddUser(ctx, "dave@example.org", testPassword); err != nil {
		t.Fatal(err)
	}
	dave := e.client("dave")
	if _, err := dave.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteUser(ctx, "dave@example.org"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dave.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("dave's session is still open after his account was deleted")
	}
	if err := e.svc.AddUser(ctx, "erin@example.org", testPassword); err != nil {
		t.Fatal(err)
	}
	e.deliver("erin", "Subject: for erin only\r\n\r\nsecret\r\n")
	if _, err := dave.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect(); err == nil {
		t.Fatal("dave's old session fetched a message after his account was deleted")
	}
	// erin herself reads her mail.
	erin := e.client("erin")
	if d, err := erin.Select("INBOX", nil).Wait(); err != nil || d.NumMessages != 1 {
		t.Fatalf("erin's INBOX: %+v, %v", d, err)
	}
}

// TestPasswordChangeEndsSessions: the sessions that logged in with the
// old password end; a login with the new one works.
func TestPasswordChangeEndsSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	old := e.client("alice")
	other := e.client("bob")
	if err := e.svc.SetPassword(ctx, "alice@example.org", "new-secret"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("a session with the old password is still open")
	}
	if err := other.Noop().Wait(); err != nil {
		t.Fatalf("bob's session suffered from alice's password change: %v", err)
	}
	c, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", "new-secret").Wait(); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}
