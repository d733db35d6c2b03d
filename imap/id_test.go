package imap

import (
	"fmt"
	"strings"
	"testing"
)

// ID before login with 30 pairs whose values pass RFC 2971's 1024
// octets (imaptest's id test sends 1024, the RFC's maximum) is
// answered, not refused.
func TestIDLongValues(t *testing.T) {
	e := newEnv(t)
	c := e.raw("")
	var b strings.Builder
	b.WriteString("ID (")
	for i := range 30 {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "\"%c%029d\" \"%s\"", 'a'+i%26, i, strings.Repeat("1234567890", 110))
	}
	b.WriteString(")")
	u := c.ok(b.String())
	contains(t, u, `* ID ("name" "Pillarbox")`)
	// Past the bound, a BAD, and the connection goes on.
	b.Reset()
	b.WriteString("ID (")
	for i := range 65 {
		fmt.Fprintf(&b, " \"k%d\" NIL", i)
	}
	c.expect(strings.Replace(b.String(), "( ", "(", 1)+")", "BAD")
	c.ok("NOOP")
}

// Before login one command may make the server hold at most 64 KiB,
// literals included (each literal is within the 8 KiB pre-login bound):
// an ID of 12 values of 8,000 octets, or a SEARCH that needs a login, is
// refused at once with NO [TOOBIG], and the session goes on. After login
// the same ID is answered.
func TestPreAuthCommandSize(t *testing.T) {
	e := newEnv(t)
	c := e.raw("")
	val := strings.Repeat("v", 8000)
	var id, search strings.Builder
	id.WriteString("ID (")
	search.WriteString("SEARCH")
	for i := range 12 {
		if i > 0 {
			id.WriteString(" ")
		}
		fmt.Fprintf(&id, "\"k%d\" {8000+}\r\n%s", i, val)
		fmt.Fprintf(&search, " TEXT {8000+}\r\n%s", val)
	}
	id.WriteString(")")
	c.expect(id.String(), "NO [TOOBIG]")
	c.ok("NOOP")
	c.expect(search.String(), "NO [TOOBIG]")
	c.ok("NOOP")
	c.ok("LOGIN alice@example.org " + testPassword)
	c.ok(id.String())
}
