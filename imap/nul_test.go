package imap

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"pillarbox/store/storetest"
	"strings"
	"testing"
)

// litCmd sends "tag prefix{n}" and, after the server's "+", lit and then
// rest as the end of the command line. It returns the tagged status, or
// the status the server sent instead of "+".
func (c *rawConn) litCmd(prefix, lit, rest string) string {
	c.t.Helper()
	c.tag++
	tag := fmt.Sprintf("t%d", c.tag)
	fmt.Fprintf(c.c, "%s %s{%d}\r\n", tag, prefix, len(lit))
	l := c.line()
	if st, ok := strings.CutPrefix(l, tag+" "); ok {
		return st
	}
	if !strings.HasPrefix(l, "+") {
		c.t.Fatalf("%s: %q instead of a continuation", prefix, l)
	}
	io.WriteString(c.c, lit+rest+"\r\n")
	_, st := c.until(tag)
	return st
}

// rawCmd sends a whole command as it is (with non-synchronizing
// literals, or bytes no client library sends) and returns its status.
func (c *rawConn) rawCmd(line string) string {
	c.t.Helper()
	c.tag++
	tag := fmt.Sprintf("t%d", c.tag)
	io.WriteString(c.c, tag+" "+line+"\r\n")
	_, st := c.until(tag)
	return st
}

// nulCommands send a mailbox name (or LIST pattern) with a NUL in every
// position and syntax the server reads one in.
var nulCommands = []struct {
	name     string
	send     func(c *rawConn) string
	appended bool
}{
	{name: "CREATE literal", send: func(c *rawConn) string { return c.litCmd("CREATE ", "ab\x00cd", "") }},
	{name: "SELECT literal", send: func(c *rawConn) string { return c.litCmd("SELECT ", "ab\x00cd", "") }},
	{name: "EXAMINE literal", send: func(c *rawConn) string { return c.litCmd("EXAMINE ", "\x00", "") }},
	{name: "DELETE literal", send: func(c *rawConn) string { return c.litCmd("DELETE ", "ab\x00cd", "") }},
	{name: "SUBSCRIBE literal", send: func(c *rawConn) string { return c.litCmd("SUBSCRIBE ", "ab\x00cd", "") }},
	{name: "STATUS literal", send: func(c *rawConn) string { return c.litCmd("STATUS ", "ab\x00cd", " (MESSAGES)") }},
	{name: "RENAME from literal", send: func(c *rawConn) string { return c.litCmd("RENAME ", "ab\x00cd", " newname") }},
	{name: "RENAME to literal", send: func(c *rawConn) string { return c.litCmd("RENAME Drafts ", "ab\x00cd", "") }},
	{name: "LIST pattern literal", send: func(c *rawConn) string { return c.litCmd(`LIST "" `, "ab\x00*", "") }},
	{name: "LIST reference literal", send: func(c *rawConn) string { return c.litCmd("LIST ", "ab\x00cd", ` "*"`) }},
	// The server refuses before asking for the message: the client must
	// not send it, and gets the BAD instead of "+".
	{name: "APPEND mailbox literal", send: func(c *rawConn) string { return c.litCmd("APPEND ", "ab\x00cd", " {12}") }},
	{name: "CREATE quoted", send: func(c *rawConn) string { return c.rawCmd("CREATE \"ab\x00cd\"") }},
	{name: "CREATE atom", send: func(c *rawConn) string { return c.rawCmd("CREATE ab\x00cd") }},
	{name: "SELECT quoted", send: func(c *rawConn) string { return c.rawCmd("SELECT \"\x00\"") }},
	{name: "LIST quoted", send: func(c *rawConn) string { return c.rawCmd("LIST \"\" \"a\x00*\"") }},
	{name: "CREATE non-synchronizing literal", send: func(c *rawConn) string { return c.rawCmd("CREATE {5+}\r\nab\x00cd") }},
	// The message literals that follow are sent at once (LITERAL+) and
	// must not be read as commands.
	{name: "APPEND non-synchronizing", send: func(c *rawConn) string {
		return c.rawCmd("APPEND {5+}\r\nab\x00cd {26+}\r\nSubject: x\r\n\r\nNOOP\r\nNOOP\r\n")
	}},
	{name: "RENAME quoted then literal", send: func(c *rawConn) string { return c.rawCmd("RENAME \"a\x00b\" {6+}\r\nLOGOUT") }},
}

// A NUL in a mailbox name gets BAD, whatever the command and the name's
// syntax, and the session goes on.
func TestMailboxNameWithNUL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("alice")
	before := c.ok(`LIST "" "*"`)
	for _, tc := range nulCommands {
		if st := tc.send(c); !strings.HasPrefix(st, "BAD") {
			t.Errorf("%s: %q, want BAD", tc.name, st)
		}
		if _, st := c.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("NOOP after %s: %q", tc.name, st)
		}
	}
	if after := c.ok(`LIST "" "*"`); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("folders changed:\n%s\nwas\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	c.ok("SELECT INBOX")
	if u := c.ok("SEARCH ALL"); len(u) != 1 || strings.TrimSpace(u[0]) != "* SEARCH" {
		t.Errorf("INBOX has messages: %q", u)
	}
}

// Names sent as literals, one or two per command, work as before.
func TestMailboxNameLiterals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("alice")
	if st := c.litCmd("CREATE ", "Reise/Fotos", ""); !strings.HasPrefix(st, "OK") {
		t.Fatalf("CREATE: %s", st)
	}
	// RENAME with two synchronizing literals: the second "+" too.
	c.tag++
	tag := fmt.Sprintf("t%d", c.tag)
	fmt.Fprintf(c.c, "%s RENAME {11}\r\n", tag)
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("first continuation: %q", l)
	}
	io.WriteString(c.c, "Reise/Fotos {6}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("second continuation: %q", l)
	}
	io.WriteString(c.c, "Photos\r\n")
	if _, st := c.until(tag); !strings.HasPrefix(st, "OK") {
		t.Fatalf("RENAME: %s", st)
	}
	contains(t, c.ok(`LIST "" "*"`), `"Photos"`)
	if st := c.litCmd("STATUS ", "Photos", " (MESSAGES)"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("STATUS: %s", st)
	}
	if st := c.rawCmd("SELECT {6+}\r\nPhotos"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("SELECT: %s", st)
	}
}

// A NUL is allowed in a literal8: binary APPEND (RFC 3516) stores it,
// also right after synchronizing literals that the server refused without
// a "+", whose announced bytes the client then never sends.
func TestBinaryAppendKeepsNUL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("alice")
	msg := "Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\nab\x00cd\r\n"
	if st := c.rawCmd(fmt.Sprintf("APPEND INBOX ~{%d+}\r\n%s", len(msg), msg)); !strings.HasPrefix(st, "OK") {
		t.Fatalf("binary APPEND: %s", st)
	}
	for _, refused := range []struct{ cmd, want string }{{"NOOP {100}", "BAD"}, {"APPEND INBOX {999999999999}", "NO [TOOBIG]"}} {
		if st := c.rawCmd(refused.cmd); !strings.HasPrefix(st, refused.want) {
			t.Fatalf("%s: %s, want %s", refused.cmd, st, refused.want)
		}
		if st := c.rawCmd(fmt.Sprintf("APPEND INBOX ~{%d+}\r\n%s", len(msg), msg)); !strings.HasPrefix(st, "OK") {
			t.Fatalf("binary APPEND after %s: %s", refused.cmd, st)
		}
	}
	c.ok("SELECT INBOX")
	u := c.ok("FETCH 1:* (BINARY.PEEK[1])")
	if len(u) != 3 || !strings.Contains(u[0], "ab\x00cd") || !strings.Contains(u[2], "ab\x00cd") {
		t.Errorf("stored messages: %q", u)
	}
}

// Lines that answer a continuation request are read by the library
// itself, not by its command parser, and refused there: a NUL in them
// gets the library's own BAD, and the session goes on.
func TestContinuationResponsesWithNUL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("")
	c.tag++
	tag := fmt.Sprintf("t%d", c.tag)
	io.WriteString(c.c, tag+" AUTHENTICATE PLAIN\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("AUTHENTICATE: %q", l)
	}
	io.WriteString(c.c, "AGFsaWNl\x00AHNlY3JldA==\r\n")
	if _, st := c.until(tag); !strings.HasPrefix(st, "BAD") && !strings.HasPrefix(st, "NO") {
		t.Errorf("SASL response with NUL: %q", st)
	}
	c.ok("NOOP")
	c.ok("LOGIN alice@example.org " + testPassword)
	c.tag++
	tag = fmt.Sprintf("t%d", c.tag)
	io.WriteString(c.c, tag+" IDLE\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	io.WriteString(c.c, "DO\x00NE\r\n")
	if _, st := c.until(tag); !strings.HasPrefix(st, "BAD") {
		t.Errorf("IDLE ended with a NUL: %q", st)
	}
	c.ok("NOOP")
}

// After STARTTLS the library reads through the TLS connection; the guard
// is back in place from the login on.
func TestMailboxNameWithNULAfterSTARTTLS(t *testing.T) {
	t.Parallel()
	e := newEnvAt(t, storetest.New(t, pg), Options{TLS: testTLS(t)}, true)
	c := dialRaw(t, e.addr, "")
	c.ok("STARTTLS")
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = &rawConn{t: t, c: tc, r: bufio.NewReader(tc), tag: c.tag}
	c.ok("LOGIN alice@example.org " + testPassword)
	if st := c.litCmd("CREATE ", "ab\x00cd", ""); !strings.HasPrefix(st, "BAD") {
		t.Errorf("CREATE: %q, want BAD", st)
	}
	c.ok("NOOP")
}
