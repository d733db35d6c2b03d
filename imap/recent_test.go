package imap

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pillarbox/store/storetest"
)

// TestRecent: \Recent (RFC 3501 2.3.2) belongs to the first session to
// select the folder read-write after the message came; EXAMINE shows it
// without taking it; a message that comes while sessions have the folder
// selected is recent to one of them; IMAP4rev2 sessions never see it.
func TestRecent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	e.deliver("alice", testMessage(2))

	x := e.raw("alice")
	contains(t, x.ok("EXAMINE INBOX"), "* 2 RECENT")
	contains(t, x.ok("STATUS INBOX (RECENT)"), "RECENT 2")

	a := e.raw("alice")
	u := a.ok("SELECT INBOX")
	contains(t, u, "* 2 EXISTS")
	contains(t, u, "* 2 RECENT")
	contains(t, a.ok("FETCH 1 FLAGS"), `* 1 FETCH (FLAGS (\Recent))`)
	contains(t, a.ok("SEARCH RECENT"), "* SEARCH 1 2")
	a.ok(`STORE 2 +FLAGS (\Seen)`)
	contains(t, a.ok("SEARCH NEW"), "* SEARCH 1")
	contains(t, a.ok("SEARCH OLD"), "* SEARCH")

	// A later session finds them taken.
	b := e.raw("alice")
	u = b.ok("SELECT INBOX")
	contains(t, u, "* 2 EXISTS")
	contains(t, u, "* 0 RECENT")
	contains(t, b.ok("FETCH 1 FLAGS"), `* 1 FETCH (FLAGS ())`)
	contains(t, b.ok("STATUS INBOX (RECENT)"), "RECENT 0")

	// A new message: recent to exactly one of the two sessions.
	e.deliver("alice", testMessage(3))
	ua, ub := a.ok("NOOP"), b.ok("NOOP")
	contains(t, ua, "* 3 EXISTS")
	contains(t, ub, "* 3 EXISTS")
	ra, rb := slices.Contains(ua, "* 3 RECENT"), slices.Contains(ub, "* 1 RECENT")
	if ra == rb {
		t.Errorf("the new message is recent to both or neither: %q, %q", ua, ub)
	}
	// An expunge of a recent message takes it from the count.
	a.ok(`STORE 1 +FLAGS (\Deleted)`)
	a.ok("EXPUNGE")
	contains(t, a.ok("SEARCH RECENT"), "* SEARCH")

	// IMAP4rev2 has no \Recent.
	c := e.raw("alice")
	c.ok("ENABLE IMAP4rev2")
	e.deliver("alice", testMessage(4))
	u = c.ok("SELECT INBOX")
	for _, l := range u {
		if strings.Contains(l, "RECENT") {
			t.Errorf("IMAP4rev2 SELECT: %q", l)
		}
	}
	if u := c.ok("FETCH 1:* FLAGS"); strings.Contains(strings.Join(u, " "), `\Recent`) {
		t.Errorf("IMAP4rev2 FETCH: %q", u)
	}
}

// TestNewKeywordAnnounced: a keyword new to the folder is in an untagged
// FLAGS before any FETCH shows it, for the session that stored it (STORE,
// APPEND, COPY) and for the others (RFC 9051 7.3.5).
func TestNewKeywordAnnounced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	a, b := e.raw("alice"), e.raw("alice")
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	flagsFirst := func(who string, u []string, kw string) {
		t.Helper()
		fi := slices.IndexFunc(u, func(l string) bool { return strings.HasPrefix(l, "* FLAGS (") && strings.Contains(l, kw) })
		fe := slices.IndexFunc(u, func(l string) bool { return strings.Contains(l, "FETCH") && strings.Contains(l, kw) })
		if fi < 0 || fe >= 0 && fe < fi {
			t.Errorf("%s: %s not announced in FLAGS before a FETCH shows it: %q", who, kw, u)
		}
	}
	flagsFirst("STORE", a.ok("STORE 1 +FLAGS ($hello)"), "$hello")
	flagsFirst("other session", b.ok("NOOP"), "$hello")
	msg := crlf(testMessage(2))
	u := a.ok(fmt.Sprintf("APPEND INBOX ($world) {%d+}\r\n%s", len(msg), msg))
	flagsFirst("APPEND", append(u, a.ok("FETCH 2 FLAGS")...), "$world")
	a.ok("CREATE Other")
	a.appendMsg("Other", "($copied) ", testMessage(3))
	a.ok("SELECT Other")
	a.ok("COPY 1 INBOX")
	flagsFirst("COPY, other session", append(b.ok("NOOP"), b.ok("FETCH 1:* FLAGS")...), "$copied")
}

// TestRecentSurvivesRestart: the claims of \Recent messages are kept in
// the store. After a restart (a new server on the same store), the
// messages no session selected read-write since they came are recent,
// once, and those a session had before the restart, at SELECT or as
// they came, are not. Before, a restart made every message old.
func TestRecentSurvivesRestart(t *testing.T) {
	t.Parallel()
	loc := storetest.New(t, pg)
	first := newEnvAt(t, loc, Options{}, true)
	first.deliver("alice", testMessage(1))
	a := first.raw("alice")
	contains(t, a.ok("SELECT INBOX"), "* 1 RECENT")
	first.deliver("alice", testMessage(2)) // a's: it has INBOX selected
	contains(t, a.ok("NOOP"), "* 2 RECENT")
	a.ok("CLOSE")
	first.deliver("alice", testMessage(3))
	first.deliver("alice", testMessage(4))

	second := newEnvAt(t, loc, Options{}, false)
	b := second.raw("alice")
	contains(t, b.ok("STATUS INBOX (RECENT)"), "RECENT 2")
	contains(t, b.ok("EXAMINE INBOX"), "* 2 RECENT")
	u := b.ok("SELECT INBOX")
	contains(t, u, "* 4 EXISTS")
	contains(t, u, "* 2 RECENT")
	contains(t, b.ok("SEARCH RECENT"), "* SEARCH 3 4")
	contains(t, second.raw("alice").ok("SELECT INBOX"), "* 0 RECENT")

	third := newEnvAt(t, loc, Options{}, false)
	c := third.raw("alice")
	contains(t, c.ok("STATUS INBOX (RECENT)"), "RECENT 0")
	contains(t, c.ok("SELECT INBOX"), "* 0 RECENT")
}
