package imap

import (
	"slices"
	"strings"
	"testing"
)

// TestExpungeIssued: a SEARCH, SORT, THREAD, FETCH or STORE by sequence
// number may not announce an expunge another session made (RFC 9051
// 7.5.1), so the message the client still sees is not searched, fetched
// or stored; the tagged OK says so with EXPUNGEISSUED (RFC 5530), which
// imaptest's state checking relies on for SEARCH. A UID command tells of
// the expunge first and needs no code.
func TestExpungeIssued(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 3; i++ {
		e.deliver("alice", testMessage(i))
	}
	a := e.raw("alice")
	a.ok("SELECT INBOX")
	b := e.raw("alice")
	b.ok("SELECT INBOX")

	// Nothing expunged: no code.
	if _, st := a.cmd("SEARCH ALL"); st != "OK Completed" {
		t.Fatalf("SEARCH ALL before the expunge: %q", st)
	}

	b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
	b.ok("EXPUNGE")

	for _, q := range []string{"SEARCH ALL", "SEARCH RETURN (COUNT) ALL", "SORT (ARRIVAL) UTF-8 ALL", "THREAD ORDEREDSUBJECT UTF-8 ALL"} {
		u, st := a.cmd(q)
		if !strings.HasPrefix(st, "OK [EXPUNGEISSUED]") {
			t.Errorf("%s: %q (untagged %q), want OK [EXPUNGEISSUED]", q, st, u)
		}
		for _, l := range u {
			if strings.HasSuffix(l, "EXPUNGE") {
				t.Errorf("%s announced an expunge: %q", q, l)
			}
		}
	}
	// The client's numbers still hold: message 3 is still 3.
	u, _ := a.cmd("SEARCH ALL")
	contains(t, u, "* SEARCH 1 3")

	// FETCH and STORE by sequence number leave the message out, and say
	// so; naming only messages still there, they do not.
	for q, want := range map[string][]string{
		"FETCH 2 FLAGS":                  nil,
		"FETCH 1:3 (UID)":                {"* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)"},
		"STORE 2 +FLAGS.SILENT (\\Seen)": nil,
	} {
		u, st := a.cmd(q)
		if !strings.HasPrefix(st, "OK [EXPUNGEISSUED]") || !slices.Equal(u, want) {
			t.Errorf("%s: %q %q, want %q and OK [EXPUNGEISSUED]", q, u, st, want)
		}
	}
	if u, st := a.cmd("FETCH 3 (UID)"); st != "OK Completed" || !slices.Equal(u, []string{"* 3 FETCH (UID 3)"}) {
		t.Errorf("FETCH 3 (UID): %q %q", u, st)
	}

	// UID SEARCH announces the expunge before its OK, without the code.
	u, st := a.cmd("UID SEARCH ALL")
	if st != "OK Completed" {
		t.Errorf("UID SEARCH ALL: %q, want a plain OK", st)
	}
	contains(t, u, "* 2 EXPUNGE")
	// Now the client knows: no code any more.
	if _, st := a.cmd("SEARCH ALL"); st != "OK Completed" {
		t.Errorf("SEARCH ALL after the expunge was told: %q", st)
	}
}
