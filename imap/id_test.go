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
