package mailbox

import (
	"context"
	"testing"
)

// TestDeliverToJunk: a delivery marked Junk lands in each account's
// \Junk folder, wherever the user renamed it, and in INBOX for an account
// that has none.
func TestDeliverToJunk(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol"} {
		mustAddUser(t, s, u+"@example.org")
	}
	acct := func(u string) int64 {
		a, err := s.Authenticate(ctx, u+"@example.org", "secret")
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	if err := s.RenameFolder(ctx, acct("bob"), "Junk", "Spam"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFolder(ctx, acct("carol"), "Junk"); err != nil {
		t.Fatal(err)
	}
	raw := []byte("From: x@example.net\r\nSubject: quarantined\r\n\r\nbody\r\n")
	if _, err := s.Deliver(ctx, &Delivery{From: "x@example.net", Junk: true,
		Recipients: resolveAll(t, s, "alice@example.org", "bob@example.org", "carol@example.org"), Data: raw}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ user, folder string }{{"alice", "Junk"}, {"bob", "Spam"}, {"carol", "INBOX"}} {
		if n, err := s.Count(ctx, c.user+"@example.org", c.folder); err != nil || n != 1 {
			t.Errorf("%s %s: %d messages, %v; want 1", c.user, c.folder, n, err)
		}
	}
	if n, _ := s.Count(ctx, "alice@example.org", "INBOX"); n != 0 {
		t.Errorf("alice's INBOX got the junk too")
	}
}
