package mailbox

import (
	"context"
	"errors"
	"pillarbox/store/storetest"
	"testing"
	"time"
)

// TestWatchAccountsAfterChange: a session of an account the CLI deleted
// just before WatchAccounts first read the counter ends too. Under load
// the watcher's goroutine can start after the CLI's change, which then
// never moved the counter again.
func TestWatchAccountsAfterChange(t *testing.T) {
	t.Parallel()
	loc := storetest.New(t, pg)
	server, err := New(loc.Open(t), Options{Domains: []string{"example.org"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := New(loc.Open(t), Options{Domains: []string{"example.org"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cli.AddUser(ctx, "gina@example.org", "pw"); err != nil {
		t.Fatal(err)
	}
	acct, err := server.Authenticate(ctx, "gina@example.org", "pw")
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan string, 1)
	t.Cleanup(server.TrackSession(acct, func(string) { ended <- "gina" }))
	if err := cli.DeleteUser(ctx, "gina@example.org"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go server.WatchAccounts(wctx, 5*time.Millisecond)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the deleted account's session did not end")
	}
}

// TestWatchAccountsAcrossProcesses: the CLI deletes an account or changes
// a password through its own store and Service; the serving process
// notices it through the counter and ends the account's sessions, and
// only those.
func TestWatchAccountsAcrossProcesses(t *testing.T) {
	t.Parallel()
	loc := storetest.New(t, pg)
	open := func() *Service {
		db := loc.Open(t)
		svc, err := New(db, Options{Domains: []string{"example.org"}, BcryptCost: 4})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	server, cli := open(), open()
	ctx := context.Background()
	for _, u := range []string{"dave", "erin", "fred"} {
		if err := cli.AddUser(ctx, u+"@example.org", "pw"); err != nil {
			t.Fatal(err)
		}
	}
	ended := make(chan string, 3)
	for _, u := range []string{"dave", "erin", "fred"} {
		acct, err := server.Authenticate(ctx, u+"@example.org", "pw")
		if err != nil {
			t.Fatal(err)
		}
		stop := server.TrackSession(acct, func(string) { ended <- u })
		t.Cleanup(stop)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go server.WatchAccounts(wctx, 5*time.Millisecond)

	if err := cli.DeleteUser(ctx, "dave@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := cli.SetPassword(ctx, "erin@example.org", "pw2"); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case u := <-ended:
			got[u] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("sessions ended: %v, want dave and erin", got)
		}
	}
	if got["fred"] || !got["dave"] || !got["erin"] {
		t.Fatalf("sessions ended: %v, want dave and erin", got)
	}
	// fred's session is untouched by a later check.
	if err := server.CheckSessions(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-ended:
		t.Fatalf("%s's session ended too", u)
	default:
	}
}

// TestSubmitFailsForGoneAccount: a submission committed after the
// account was deleted or its password changed writes nothing.
func TestSubmitFailsForGoneAccount(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, pg)
	svc, err := New(db, Options{Domains: []string{"example.org"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	svc.AddUser(ctx, "dave@example.org", "pw")
	acct, err := svc.Authenticate(ctx, "dave@example.org", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetPassword(ctx, "dave@example.org", "pw2"); err != nil {
		t.Fatal(err)
	}
	from, _ := ParseAddress("dave@example.org")
	to, _ := ParseAddress("x@remote.example")
	_, err = svc.Submit(ctx, &Submission{Account: acct, From: from, Remote: []Address{to},
		Data: []byte("Subject: x\r\n\r\nx\r\n")})
	if err == nil || !errors.Is(err, ErrAccountGone) {
		t.Fatalf("submit with the old credential: %v, want ErrAccountGone", err)
	}
	if items, _ := svc.QueueList(ctx); len(items) != 0 {
		t.Fatalf("%d items queued", len(items))
	}
}
