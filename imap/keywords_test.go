package imap

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"pillarbox/mailbox"
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

// TestKeywordsPerMessageBound: STORE refused more than 64 keywords in one
// command, but +FLAGS added them to those the message had, so repeated
// STOREs made a message's row as large as a client liked. A STORE that
// would leave a message with more than 64 keywords is now NO [LIMIT] and
// changes nothing.
func TestKeywordsPerMessageBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	e.deliver("alice", testMessage(2))
	c := e.raw("alice")
	c.ok("SELECT INBOX")
	kws := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			if i > from {
				b.WriteByte(' ')
			}
			b.WriteString("k" + strconv.Itoa(i))
		}
		return b.String()
	}
	c.ok("STORE 1 +FLAGS.SILENT (" + kws(0, 64) + ")")
	c.ok("STORE 1 +FLAGS.SILENT (\\Seen k0 K1)") // kept, one of them again
	c.expect("STORE 1:2 +FLAGS.SILENT (k64)", "NO [LIMIT]")
	c.expect("STORE 1 +FLAGS.SILENT ("+kws(64, 128)+")", "NO [LIMIT]")
	u := c.ok("FETCH 1:2 FLAGS")
	if len(u) != 2 || strings.Contains(u[0], "k64") || !strings.Contains(u[0], "k63") || strings.Contains(u[1], "k64") {
		t.Fatalf("after refused STOREs: %q", u)
	}
	c.ok("STORE 1 -FLAGS.SILENT (k0)")
	c.ok("STORE 1 +FLAGS.SILENT (k64)")
}

// TestKeywordsPerFolderBound: a folder lists every keyword its messages
// have had, and adding and removing 64 at a time on one message made
// that list, FLAGS and PERMANENTFLAGS at SELECT and the sessions' memory
// of the folder grow without end. Past mailbox.MaxFolderKeywords a STORE
// or APPEND with a new keyword is NO [LIMIT], PERMANENTFLAGS leaves out
// \*, and the folder's keywords keep working.
func TestKeywordsPerFolderBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	c := e.raw("alice")
	c.ok("SELECT INBOX")
	for n := 0; n < mailbox.MaxFolderKeywords; n += 64 {
		var b strings.Builder
		for i := n; i < min(n+64, mailbox.MaxFolderKeywords); i++ {
			b.WriteString(" k" + strconv.Itoa(i))
		}
		kws := "(" + b.String()[1:] + ")"
		c.ok("STORE 1 +FLAGS.SILENT " + kws)
		c.ok("STORE 1 -FLAGS.SILENT " + kws)
	}
	c.expect("STORE 1 +FLAGS.SILENT (one-more)", "NO [LIMIT]")
	c.expect("APPEND INBOX (one-more) {3+}\r\nx\r\n", "NO [LIMIT]")
	c.ok("STORE 1 +FLAGS.SILENT (K0 \\Seen)")
	c.ok("APPEND INBOX (k1) {3+}\r\nx\r\n")
	d := e.raw("alice")
	u := d.ok("SELECT INBOX")
	found := false
	for _, l := range u {
		if strings.HasPrefix(l, "* OK [PERMANENTFLAGS") {
			found = true
			if strings.Contains(l, `\*`) {
				t.Errorf("a full folder offers new keywords: %.80q...", l)
			}
		}
	}
	if !found {
		t.Errorf("no PERMANENTFLAGS at SELECT: %q", u)
	}
}
