package imap

import (
	"strings"
	"testing"
	"time"
)

// TestKeywordsInFlags: FLAGS and PERMANENTFLAGS list the folder's
// keywords, and a keyword new to the folder is announced with an
// untagged FLAGS to every session before a message shows it, also to
// the one that stored it (RFC 9051 7.3.5); a keyword the folder knows
// is not announced again.
func TestKeywordsInFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	e.deliver("alice", testMessage(2))
	a := e.raw("alice")
	a.ok("SELECT INBOX")
	a.ok("STORE 1 +FLAGS (Project)")

	b := e.raw("alice")
	u := b.ok("SELECT INBOX")
	contains(t, u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft Project)`)
	contains(t, u, `* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft Project \*)]`)

	tag := b.idle()
	u = a.ok("STORE 2 +FLAGS (urgent)")
	contains(t, u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft Project urgent)`)
	b.within(10*time.Second, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft Project urgent)`)
	b.within(10*time.Second, `FLAGS (urgent))`)
	b.done(tag)

	// Known already (in any case): no FLAGS.
	for _, l := range a.ok("STORE 1 +FLAGS (URGENT)") {
		if strings.HasPrefix(l, "* FLAGS") {
			t.Fatalf("a known keyword announced again: %q", l)
		}
	}
	// Still listed after its last message loses it, as in Dovecot.
	a.ok("STORE 1:2 -FLAGS (Project urgent)")
	c := e.raw("alice")
	contains(t, c.ok("EXAMINE INBOX"), `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft Project urgent)`)
}
