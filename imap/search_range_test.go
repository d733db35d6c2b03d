package imap

import (
	"strings"
	"testing"
)

// TestSearchSequencePastEnd: in SEARCH, sequence numbers above the
// mailbox's messages name no message (as Dovecot answers) instead of
// getting BAD; FETCH still refuses them.
func TestSearchSequencePastEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	e.deliver("alice", testMessage(2))
	c := e.raw("alice")
	c.ok("SELECT INBOX")
	for q, want := range map[string]string{
		"SEARCH 5:7":     "* SEARCH",
		"SEARCH 1:7":     "* SEARCH 1 2",
		"SEARCH NOT 5:7": "* SEARCH 1 2",
		"SEARCH 7:5":     "* SEARCH",
		"SEARCH 3:*":     "* SEARCH 2",
		"SEARCH OR 5 1":  "* SEARCH 1",
	} {
		u, st := c.cmd(q)
		if !strings.HasPrefix(st, "OK") || len(u) != 1 || strings.TrimSpace(u[0]) != want {
			t.Errorf("%s: %q %s, want %q OK", q, u, st, want)
		}
	}
	if _, st := c.cmd("FETCH 5 FLAGS"); !strings.HasPrefix(st, "BAD") {
		t.Errorf("FETCH past the end: %s, want BAD", st)
	}
	// An empty mailbox: '*' names nothing.
	c.ok("SELECT Drafts")
	if u, st := c.cmd("SEARCH 1:*"); !strings.HasPrefix(st, "OK") || len(u) != 1 || strings.TrimSpace(u[0]) != "* SEARCH" {
		t.Errorf("SEARCH 1:* in an empty mailbox: %q %s", u, st)
	}
}
