package imap

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/storetest"
)

// twoServers starts two servers, as two nodes, on one store that tells
// each of the other's commits (PostgreSQL); it skips with SQLite, whose
// one file has one node.
func twoServers(t *testing.T) (a, b *testEnv) {
	t.Helper()
	loc := storetest.New(t, pg)
	a = newEnvAt(t, loc, Options{}, true)
	if _, ok := a.db.(store.Feed); !ok {
		t.Skip("the store has one node (run with PILLARBOX_TEST_STORE=postgres)")
	}
	b = newEnvAt(t, loc, Options{}, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.svc.Follow(ctx, nil)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return a, b
}

// account returns a user's account (a local part).
func (e *testEnv) account(user string) mailbox.Account {
	e.t.Helper()
	acct, err := e.svc.Authenticate(context.Background(), user+"@example.org", testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	return acct
}

// A session in IDLE on node B hears of what node A commits: new
// messages (EXISTS), flag changes (FETCH FLAGS) and expunges (EXPUNGE
// with numbers that hold), through the store's feed; FETCH afterwards
// names exactly the stored messages with their flags.
func TestTwoServersOneStore(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	events := make(chan string, 1000)
	c := b.clientWith("alice", &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { events <- fmt.Sprintf("EXPUNGE %d", seq) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				events <- fmt.Sprintf("EXISTS %d", *d.NumMessages)
			}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			buf, err := m.Collect()
			if err == nil && buf.Flags != nil {
				events <- fmt.Sprintf("FETCH %d %v", buf.SeqNum, withoutRecent(buf.Flags))
			}
		},
	})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	acct := a.account("alice")
	inbox, err := a.svc.Folder(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, _, err := a.svc.Append(ctx, acct.ID, "INBOX", []byte("Subject: x\r\n\r\nx\r\n"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, events, fmt.Sprintf("EXISTS %d", i+1))
	}
	// A flags UID 4 and expunges UIDs 2 and 3 in one write.
	if err := a.svc.StoreFlags(ctx, acct.ID, inbox.ID, mailbox.UIDSet{{Start: 4, Stop: 4}}, mailbox.FlagsAdd, []string{"$Work"}, nil); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, "FETCH 4 [$Work]")
	if err := a.svc.StoreFlags(ctx, acct.ID, inbox.ID, mailbox.UIDSet{{Start: 2, Stop: 3}}, mailbox.FlagsAdd, []string{`\Deleted`}, nil); err != nil {
		t.Fatal(err)
	}
	// Flag changes of one write come in no set order.
	next := func() string {
		select {
		case e := <-events:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5 s")
			return ""
		}
	}
	got := []string{next(), next()}
	slices.Sort(got)
	if want := []string{`FETCH 2 [\Deleted]`, `FETCH 3 [\Deleted]`}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if err := a.svc.Expunge(ctx, acct.ID, inbox.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, "EXPUNGE 3")
	waitEvent(t, events, "EXPUNGE 2")
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%d:%d%v", m.SeqNum, m.UID, withoutRecent(m.Flags)))
	}
	if want := []string{"1:1[]", "2:4[$Work]", "3:5[]"}; !slices.Equal(got, want) {
		t.Errorf("FETCH 1:* on B: %v, want %v", got, want)
	}
}

// withoutRecent leaves out \Recent, which this IMAP4rev1 session is
// given for the messages that came while it had the folder selected.
func withoutRecent(flags []imap.Flag) []imap.Flag {
	return slices.DeleteFunc(slices.Clone(flags), func(f imap.Flag) bool { return f == `\Recent` })
}

// A folder that node A deletes while a session on node B has it
// selected ends that session with BYE, as a deletion on its own node
// does: B's feed tells it the folder is gone.
func TestTwoServersFolderDeletedElsewhere(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	ctx := context.Background()
	acct := a.account("alice")
	if err := a.svc.CreateFolder(ctx, acct.ID, "Work", ""); err != nil {
		t.Fatal(err)
	}
	c := b.client("alice")
	if _, err := c.Select("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.svc.DeleteFolder(ctx, acct.ID, "Work"); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- idle.Wait() }()
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("IDLE ended without an error after the folder went")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the session on B went on after A deleted its folder")
	}
	select {
	case <-c.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("B did not close the connection")
	}
}

// A session watching its folders with NOTIFY on node B hears of mail
// node A delivers to a folder that was made after NOTIFY SET.
func TestTwoServersNotifyFolderMadeLater(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	ctx := context.Background()
	acct := a.account("alice")
	w := b.raw("alice")
	w.ok("NOTIFY SET (PERSONAL (MessageNew MailboxName))")
	other := b.raw("alice")
	other.ok("CREATE Fresh")
	contains(t, w.ok("NOOP"), `* LIST () "/" "Fresh"`)
	tag := w.idle()
	if _, _, err := a.svc.Append(ctx, acct.ID, "Fresh", []byte("Subject: x\r\n\r\nx\r\n"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	w.within(5*time.Second, `* STATUS "Fresh" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY `)
	w.done(tag)
}

// \Recent is claimed in the store: a message that a session on node A
// selected first is not recent to a session on node B, and one that
// came since is recent to B's.
func TestTwoServersRecentClaimedOnce(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	// Each session closes the folder after looking: a message that comes
	// while one has it selected is that session's (on each node, as it
	// hears of it), which this test leaves aside.
	sel := func(e *testEnv, want string) {
		t.Helper()
		c := e.raw("alice")
		contains(t, c.ok("SELECT INBOX"), want)
		c.ok("CLOSE")
	}
	a.deliver("alice", testMessage(1))
	sel(a, "* 1 RECENT")
	sel(b, "* 0 RECENT")
	a.deliver("alice", testMessage(2))
	sel(b, "* 1 RECENT")
	sel(a, "* 0 RECENT")
}
