package imap

import (
	"strings"
	"testing"
	"time"
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
	a.expect("NOTIFY SET (PERSONAL (MailboxName))", "NO [BADEVENT")
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
