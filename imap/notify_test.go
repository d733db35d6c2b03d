package imap

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"pillarbox/store"
)

// TestNotify: RFC 5465: a session watching other folders learns of new
// and expunged messages there as STATUS, after its commands and in IDLE;
// NOTIFY NONE stops it; events Pillarbox does not report are refused.
func TestNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.raw("alice")
	b.ok("CREATE Lists")
	b.ok("CREATE Other")

	a := e.raw("alice")
	a.ok("SELECT INBOX")
	a.expect("NOTIFY SET (PERSONAL (AnnotationChange))", "NO [BADEVENT")
	u := a.ok("NOTIFY SET STATUS (MAILBOXES Lists (MessageNew MessageExpunge)) (SELECTED (MessageNew))")
	contains(t, u, `* STATUS "Lists" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY `)

	// After a command.
	b.appendMsg("Lists", "", testMessage(1))
	contains(t, a.ok("NOOP"), `* STATUS "Lists" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY `)
	// A folder not watched says nothing.
	b.appendMsg("Other", "", testMessage(2))
	for _, l := range a.ok("NOOP") {
		if strings.Contains(l, "STATUS") {
			t.Errorf("unwatched folder: %q", l)
		}
	}
	// In IDLE, at once.
	tag := a.idle()
	b.ok("SELECT Lists")
	b.ok(`STORE 1 +FLAGS (\Deleted)`)
	b.ok("EXPUNGE")
	a.within(5*time.Second, `* STATUS "Lists" (MESSAGES 0)`)
	a.done(tag)

	a.ok("NOTIFY NONE")
	b.appendMsg("Lists", "", testMessage(3))
	for _, l := range a.ok("NOOP") {
		if strings.Contains(l, "STATUS") {
			t.Errorf("after NOTIFY NONE: %q", l)
		}
	}
}

// RFC 5465 5.4 and 5.5: folders created (their new parents too),
// renamed (with OLDNAME) and deleted (\NonExistent), and names subscribed
// and unsubscribed, come as LIST responses to a session that asked, after
// its commands and at once in IDLE; a folder created since NOTIFY SET is
// watched for message events when its filter names it; a filter that
// names other folders says nothing.
func TestNotifyMailboxNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.raw("alice")
	a := e.raw("alice")
	a.ok("NOTIFY SET (PERSONAL (MessageNew MailboxName SubscriptionChange))")
	narrow := e.raw("alice")
	narrow.ok("NOTIFY SET (MAILBOXES Lists (MailboxName))")

	b.ok("CREATE Projects/2026")
	u := a.ok("NOOP")
	contains(t, u, `* LIST () "/" "Projects"`)
	contains(t, u, `* LIST () "/" "Projects/2026"`)

	b.ok("RENAME Projects/2026 Old/2026")
	u = a.ok("NOOP")
	contains(t, u, `* LIST () "/" "Old/2026" ("OLDNAME" ("Projects/2026"))`)
	contains(t, u, `* LIST () "/" "Old"`)

	b.ok("DELETE Old/2026")
	contains(t, a.ok("NOOP"), `* LIST (\NonExistent) "/" "Old/2026"`)

	b.ok("SUBSCRIBE Archive")
	contains(t, a.ok("NOOP"), `* LIST (\Subscribed) "/" "Archive"`)
	b.ok("UNSUBSCRIBE Archive")
	contains(t, a.ok("NOOP"), `* LIST () "/" "Archive"`)
	b.ok("UNSUBSCRIBE Archive") // nothing changes: nothing to tell
	for _, l := range a.ok("NOOP") {
		if strings.HasPrefix(l, "* LIST") {
			t.Errorf("unsubscribing a name not subscribed: %q", l)
		}
	}

	// A folder made after NOTIFY SET is watched: PERSONAL names it.
	b.ok("CREATE Fresh")
	contains(t, a.ok("NOOP"), `* LIST () "/" "Fresh"`)
	b.appendMsg("Fresh", "", testMessage(1))
	contains(t, a.ok("NOOP"), `* STATUS "Fresh" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY `)

	// In IDLE, at once.
	tag := a.idle()
	b.ok("CREATE Later")
	a.within(5*time.Second, `* LIST () "/" "Later"`)
	a.done(tag)

	// The narrow filter named none of these; it names Lists once made.
	for _, l := range narrow.ok("NOOP") {
		if strings.HasPrefix(l, "* LIST") {
			t.Errorf("MAILBOXES Lists told of another folder: %q", l)
		}
	}
	b.ok("CREATE Lists")
	contains(t, narrow.ok("NOOP"), `* LIST () "/" "Lists"`)
}

// A SUBSCRIBED filter names a name before and after its subscription
// changes: a client watching SubscriptionChange of its subscriptions is
// told when one goes, not only when one comes.
func TestNotifySubscribedUnsubscribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.raw("alice")
	b.ok("CREATE Lists")
	b.ok("SUBSCRIBE Lists")
	a := e.raw("alice")
	a.ok("NOTIFY SET (SUBSCRIBED (SubscriptionChange))")
	b.ok("UNSUBSCRIBE Lists")
	contains(t, a.ok("NOOP"), `* LIST () "/" "Lists"`)
	b.ok("SUBSCRIBE Lists")
	contains(t, a.ok("NOOP"), `* LIST (\Subscribed) "/" "Lists"`)
}

// A NOTIFY session that reads nothing while another session of the
// account changes its subscriptions over and over keeps at most
// maxNotifyLists responses; past them it is told NOTIFICATIONOVERFLOW
// and NOTIFY ends for it (RFC 5465 5.8).
func TestNotifyListsOverflow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.raw("alice")
	a.ok("NOTIFY SET (PERSONAL (SubscriptionChange))")
	b := e.raw("alice")
	for i := 0; i <= maxNotifyLists/2; i++ {
		b.ok("SUBSCRIBE Name")
		b.ok("UNSUBSCRIBE Name")
	}
	ws := &e.srv.hub.watch
	ws.mu.Lock()
	for _, m := range ws.byAccount {
		for n := range m {
			n.mu.Lock()
			if len(n.lists) > maxNotifyLists {
				t.Errorf("a silent NOTIFY session holds %d LIST responses", len(n.lists))
			}
			n.mu.Unlock()
		}
	}
	ws.mu.Unlock()
	u := a.ok("NOOP")
	contains(t, u, "* OK [NOTIFICATIONOVERFLOW]")
	if n := countPrefix(u, "* LIST"); n != 0 {
		t.Errorf("%d LIST responses with the overflow", n)
	}
	b.ok("SUBSCRIBE Other")
	if n := countPrefix(a.ok("NOOP"), "* LIST"); n != 0 {
		t.Errorf("NOTIFY went on after the overflow: %d LIST responses", n)
	}
}

// RFC 5465 5.2: MessageNew with fetch attributes for the selected folder
// sends a FETCH of each new message after its EXISTS, after a command and
// in IDLE, without setting \Seen; attributes given for other folders are
// ignored, and NOTIFY NONE stops them.
func TestNotifyMessageNewFetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.raw("alice")
	b.ok("CREATE Lists")
	a := e.raw("alice")
	a.ok("SELECT INBOX")
	a.ok("NOTIFY SET (SELECTED (MessageNew (UID BODY[HEADER.FIELDS (Subject)]) MessageExpunge)) " +
		"(MAILBOXES Lists (MessageNew (UID FLAGS)))")

	b.appendMsg("INBOX", "", testMessage(1))
	b.appendMsg("INBOX", "", testMessage(2))
	u := a.ok("NOOP")
	exists, fetch := -1, -1
	for i, l := range u {
		switch {
		case strings.HasPrefix(l, "* 2 EXISTS"):
			exists = i
		case strings.HasPrefix(l, "* 1 FETCH (UID 1 BODY[HEADER.FIELDS (Subject)] {"):
			fetch = i
		}
	}
	if exists < 0 || fetch < exists {
		t.Fatalf("want EXISTS, then a FETCH of each new message: %q", u)
	}
	contains(t, u, "* 2 FETCH (UID 2 BODY[HEADER.FIELDS (Subject)] {")
	contains(t, u, "Subject: message 2")

	b.appendMsg("Lists", "", testMessage(3))
	for _, l := range a.ok("NOOP") {
		if strings.Contains(l, "FETCH") {
			t.Errorf("a new message in another folder was fetched: %q", l)
		}
	}

	tag := a.idle()
	b.appendMsg("INBOX", "", testMessage(4))
	a.within(5*time.Second, "* 3 FETCH (UID 3 BODY[HEADER.FIELDS (Subject)] {")
	a.done(tag)
	for _, l := range a.ok("FETCH 1:3 (FLAGS)") {
		if strings.Contains(l, `\Seen`) {
			t.Errorf("the notification set \\Seen: %q", l)
		}
	}

	a.ok("NOTIFY NONE")
	b.appendMsg("INBOX", "", testMessage(5))
	u = a.ok("NOOP")
	contains(t, u, "* 4 EXISTS")
	for _, l := range u {
		if strings.Contains(l, "FETCH") {
			t.Errorf("after NOTIFY NONE: %q", l)
		}
	}
}

// With CONDSTORE on, NOTIFY's FETCH of a new message tells of another
// session's change, so it carries UID and MODSEQ (RFC 7162 3.2.4) beside
// the attributes asked for.
func TestNotifyMessageNewFetchCondStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.raw("alice"), e.raw("alice")
	a.ok("SELECT INBOX (CONDSTORE)")
	a.ok("NOTIFY SET (SELECTED (MessageNew (FLAGS) MessageExpunge))")
	b.appendMsg("INBOX", "(\\Flagged) ", testMessage(1))
	contains(t, a.ok("NOOP"), "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent) MODSEQ (")
}

// A new message that NOTIFY's fetch cannot write (BINARY of a part in an
// unknown encoding, which anyone can mail) is left out: the command that
// was running still gets its own answer, IDLE goes on, and the other new
// messages are still fetched.
func TestNotifyFetchFailureIsNotTheCommands(t *testing.T) {
	t.Parallel()
	const uu = "From: a@example.net\nTo: alice@example.org\nSubject: uu\nContent-Type: text/plain\n" +
		"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n`\nend\n"
	e := newEnv(t)
	a := e.raw("alice")
	a.ok("SELECT INBOX")
	a.ok("NOTIFY SET (SELECTED (MessageNew (UID BINARY.PEEK[1]) MessageExpunge))")
	if st := a.appendMsg("INBOX", "", uu); !strings.HasPrefix(st, "OK") {
		t.Fatalf("APPEND stored the message but answered %q", st)
	}
	tag := a.idle()
	e.deliver("alice", uu)
	e.deliver("alice", testMessage(3))
	a.within(5*time.Second, "* 3 FETCH (UID 3 BINARY[1] ")
	a.done(tag)
}

// TestNotifyRemadeInbox: an INBOX that delivery makes again, having found
// it gone, is announced as MailboxName like any folder made.
func TestNotifyRemadeInbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.raw("alice")
	a.ok("NOTIFY SET (PERSONAL (MailboxName))")
	ctx := context.Background()
	acct, err := e.db.AccountByAddress(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := e.db.MailboxByName(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	// INBOX cannot be deleted over IMAP; only the store can lose it.
	if err := e.db.Write(ctx, func(tx store.Tx) error { return tx.DeleteMailbox(inbox.ID) }); err != nil {
		t.Fatal(err)
	}
	e.deliver("alice", testMessage(1))
	contains(t, a.ok("NOOP"), `* LIST () "/" INBOX`)
}

// TestNotifyMailboxesBound: NOTIFY SET took any number of MAILBOXES and
// SUBTREE names (10,000 a group, as many groups as a command holds), and
// matched each against every folder at SET and at every folder change:
// 8,500 SUBTREE names over 10,000 folders took over a second of CPU per
// NOTIFY. More than maxNotifyMailboxes names are now NO [LIMIT].
func TestNotifyMailboxesBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("alice")
	names := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, " n%d", i)
		}
		return "(" + b.String()[1:] + ")"
	}
	c.expect("NOTIFY SET (mailboxes "+names(maxNotifyMailboxes+1)+" (MessageNew))", "NO [LIMIT]")
	half := names(maxNotifyMailboxes/2 + 1)
	c.expect("NOTIFY SET (subtree "+half+" (MessageNew)) (mailboxes "+half+" (MessageNew))", "NO [LIMIT]")
	c.ok("NOTIFY SET (mailboxes " + names(maxNotifyMailboxes) + " (MessageNew))")
}
