package imap

import (
	"strings"
	"testing"
)

// TestSearchUpdate: RFC 5267 CONTEXT=SEARCH: a search with RETURN
// (UPDATE) tells of messages entering and leaving its result, by flag
// changes and expunges (REMOVEFROM before the EXPUNGE, with the number
// the client still knows), until CANCELUPDATE.
func TestSearchUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 5; i++ {
		e.deliver("alice", testMessage(i))
	}
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	u := r.ok("SEARCH RETURN (UPDATE ALL) SEEN")
	contains(t, u, `* ESEARCH (TAG "t3")`)
	contains(t, r.ok(`STORE 1,2,4 +FLAGS (\Seen)`), `* ESEARCH (TAG "t3") ADDTO (1 1:2,4)`)
	contains(t, r.ok(`STORE 2 -FLAGS (\Seen)`), `* ESEARCH (TAG "t3") REMOVEFROM (2 2)`)
	r.ok(`STORE 4 +FLAGS (\Deleted)`)
	u = r.ok("EXPUNGE")
	i, j := indexOf(u, `* ESEARCH (TAG "t3") REMOVEFROM (2 4)`), indexOf(u, "* 4 EXPUNGE")
	if i < 0 || j < 0 || i > j {
		t.Errorf("EXPUNGE: %q, want REMOVEFROM (2 4) before * 4 EXPUNGE", u)
	}
	// Another session's change comes too.
	b := e.raw("alice")
	b.ok("SELECT INBOX")
	b.ok(`STORE 3 +FLAGS (\Seen)`)
	contains(t, r.ok("NOOP"), `* ESEARCH (TAG "t3") ADDTO (2 3)`)
	r.ok(`CANCELUPDATE "t3"`)
	for _, l := range r.ok(`STORE 2 +FLAGS (\Seen)`) {
		if strings.Contains(l, "ESEARCH") {
			t.Errorf("after CANCELUPDATE: %q", l)
		}
	}
}

func indexOf(lines []string, want string) int {
	for i, l := range lines {
		if l == want {
			return i
		}
	}
	return -1
}

// TestPartial: RFC 9394 PARTIAL for SEARCH and SORT, from the start and
// from the end; PARTIAL with ALL is a syntax error.
func TestPartial(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 5; i++ {
		e.deliver("alice", testMessage(i))
	}
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	contains(t, r.ok("SEARCH RETURN (PARTIAL 2:3) ALL"), `* ESEARCH (TAG "t3") PARTIAL (2:3 2:3)`)
	contains(t, r.ok("SEARCH RETURN (PARTIAL -1:-2 COUNT) ALL"), `* ESEARCH (TAG "t4") COUNT 5 PARTIAL (-1:-2 4:5)`)
	contains(t, r.ok("SEARCH RETURN (PARTIAL 7:9) ALL"), `* ESEARCH (TAG "t5") PARTIAL (7:9 NIL)`)
	contains(t, r.ok("SORT RETURN (PARTIAL 1:2) (REVERSE SUBJECT) UTF-8 ALL"), `* ESEARCH (TAG "t6") PARTIAL (1:2 5,4)`)
	r.expect("SEARCH RETURN (PARTIAL 1:2 ALL) ALL", "BAD")
	r.expect("SEARCH RETURN (PARTIAL 1:*) ALL", "BAD")
}
