package imap

import (
	"io"
	"strings"
	"testing"
)

// TestBadInputAnswered: the list of inputs the old library left
// unanswered or answered with SERVERBUG: each gets a tagged BAD or NO at
// once, and the connection goes on.
func TestBadInputAnswered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("")
	// A synchronising literal too large before login: refused before
	// any "+", so the client never sends it.
	io.WriteString(c.c, "a1 LOGIN {999999999}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "a1 NO [TOOBIG]") && !strings.HasPrefix(l, "a1 BAD") {
		t.Fatalf("LOGIN with a huge literal: %q", l)
	}
	// Unknown commands before login: BAD, and the session goes on.
	for range 3 {
		c.expect("FROBNICATE", "BAD")
	}
	c.ok("LOGIN alice@example.org " + testPassword)
	c.ok("SELECT INBOX")
	c.expect("FETCH 0 FLAGS", "BAD")
	c.expect("FETCH 1:0 FLAGS", "BAD")
	c.expect(`CREATE "&Jjo-x&"`, "BAD Invalid modified UTF-7")
	c.ok("NOOP")
}
