package imap

import (
	"context"
	"fmt"
	"io"
	"pillarbox/store/storetest"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// lit is a literal in an APPEND sent by appendParts: synchronising
// unless nonSync, a literal8 (RFC 3516) with binary.
type lit struct {
	data            string
	nonSync, binary bool
}

// appendParts sends "APPEND" followed by parts, strings as they are and
// lits as literals, waiting for the continuation of each synchronising
// one; if the server answers instead, that is the command's end. It
// returns the untagged responses and the tagged status.
func (c *rawConn) appendParts(parts ...any) (untagged []string, status string) {
	c.t.Helper()
	c.tag++
	tag := fmt.Sprintf("t%d", c.tag)
	line := tag + " APPEND"
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			line += p
		case lit:
			head := fmt.Sprintf("{%d", len(p.data))
			if p.binary {
				head = "~" + head
			}
			if p.nonSync {
				head += "+"
			}
			if _, err := io.WriteString(c.c, line+head+"}\r\n"); err != nil {
				c.t.Fatal(err)
			}
			if !p.nonSync {
				l := c.line()
				if rest, ok := strings.CutPrefix(l, tag+" "); ok {
					return nil, rest
				}
				if !strings.HasPrefix(l, "+") {
					c.t.Fatalf("no continuation: %q", l)
				}
			}
			if _, err := io.WriteString(c.c, p.data); err != nil {
				c.t.Fatal(err)
			}
			line = ""
		default:
			c.t.Fatalf("part %T", p)
		}
	}
	if _, err := io.WriteString(c.c, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.until(tag)
}

// wantStatus fails unless status starts with want.
func wantStatus(t *testing.T, what, status, want string) {
	t.Helper()
	if !strings.HasPrefix(status, want) {
		t.Fatalf("%s: %q, want %q...", what, status, want)
	}
}

// folderState is "MESSAGES n UIDNEXT m" of a folder, from STATUS.
func (c *rawConn) folderState(mbox string) string {
	c.t.Helper()
	u := c.ok("STATUS " + mbox + " (MESSAGES UIDNEXT)")
	for _, l := range u {
		if i := strings.Index(l, "(MESSAGES"); i >= 0 && strings.HasPrefix(l, "* STATUS") {
			return strings.Trim(l[i:], "()")
		}
	}
	c.t.Fatalf("no STATUS in %q", u)
	return ""
}

// MULTIAPPEND (RFC 3502) stores every message with its own flags and
// date, in order, answers APPENDUID with the UID set (RFC 4315), takes
// synchronising, non-synchronising and binary literals, and tells a
// session that has the folder selected of each new message.
func TestMultiAppend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.raw("alice")
	other.ok("SELECT INBOX")
	c := e.raw("alice")
	contains(t, c.ok("CAPABILITY"), "MULTIAPPEND", "CATENATE")
	m1, m2, m3 := testMessage(1), testMessage(2), testMessage(3)+"\x00binary\r\n"
	u, st := c.appendParts(" INBOX (\\Seen) ", lit{data: m1}, ` (\Flagged $Work) "05-Mar-2024 10:11:12 +0100" `, lit{data: m2, nonSync: true},
		" ", lit{data: m3, binary: true})
	wantStatus(t, "MULTIAPPEND", st, "OK [APPENDUID ")
	var validity uint32
	if _, err := fmt.Sscanf(st, "OK [APPENDUID %d 1:3]", &validity); err != nil || validity == 0 {
		t.Fatalf("APPENDUID: %q (untagged %q)", st, u)
	}
	c.ok("SELECT INBOX")
	u = c.ok("FETCH 1:3 (UID FLAGS INTERNALDATE RFC822.SIZE)")
	contains(t, u, "* 1 FETCH", "UID 1", `FLAGS (\Seen`)
	contains(t, u, "* 2 FETCH", "UID 2", `FLAGS (\Flagged $Work`, `" 5-Mar-2024 09:11:12 +0000"`, fmt.Sprintf("RFC822.SIZE %d", len(m2)))
	contains(t, u, "* 3 FETCH", "UID 3", "FLAGS ()", fmt.Sprintf("RFC822.SIZE %d", len(m3)))
	contains(t, c.ok("UID FETCH 2 BODY.PEEK[]"), "BODY[] {", "body of message 2")
	contains(t, other.ok("NOOP"), "* 3 EXISTS")
	// A single APPEND through a real client still works, with APPENDUID.
	cl := e.client("alice")
	cmd := cl.Append("INBOX", int64(len(m1)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
	if _, err := cmd.Write([]byte(m1)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil || data.UID != 4 || data.UIDValidity != validity {
		t.Fatalf("imapclient APPEND: %+v, %v", data, err)
	}
}

// A MULTIAPPEND is all or nothing (RFC 3502 6.3.11): when any message
// is refused (over APPENDLIMIT, over the quota, a bad flag, empty, a NUL
// in a normal literal, past the command's total) none is stored, no UID
// is used up, and the connection goes on.
func TestMultiAppendAtomic(t *testing.T) {
	t.Parallel()
	const limit = 2000
	e := newEnvAt(t, storetest.New(t, pg), Options{AppendLimit: limit}, true)
	c := e.raw("alice")
	m := testMessage(1)
	big := m + strings.Repeat("x", limit) + "\r\n"
	part := m + strings.Repeat("y", 1400) + "\r\n" // three of these pass 2 x limit

	_, st := c.appendParts(" INBOX ", lit{data: m}, " ", lit{data: big})
	wantStatus(t, "second message over APPENDLIMIT", st, "NO [TOOBIG]")
	_, st = c.appendParts(" INBOX ", lit{data: m, nonSync: true}, " ", lit{data: big[:limit+1], nonSync: true})
	wantStatus(t, "second non-synchronising message over APPENDLIMIT", st, "NO [TOOBIG]")
	_, st = c.appendParts(" INBOX ", lit{data: m}, ` (\Bogus) `, lit{data: m})
	wantStatus(t, "bad flag on the second message", st, "BAD")
	_, st = c.appendParts(" INBOX ", lit{data: m}, " ", lit{data: ""})
	wantStatus(t, "empty second message", st, "NO")
	_, st = c.appendParts(" INBOX ", lit{data: m}, " ", lit{data: m + "\x00\r\n"})
	wantStatus(t, "NUL in the second message", st, "BAD")
	_, st = c.appendParts(" INBOX ", lit{data: part}, " ", lit{data: part}, " ", lit{data: part})
	wantStatus(t, "past the command's total", st, "NO [LIMIT]")
	_, st = c.appendParts(" INBOX ", lit{data: part, nonSync: true}, " ", lit{data: part, nonSync: true}, " ", lit{data: part, nonSync: true})
	wantStatus(t, "past the command's total, non-synchronising", st, "NO [LIMIT]")
	_, st = c.appendParts(" Nowhere ", lit{data: m}, " ", lit{data: m})
	wantStatus(t, "no such mailbox", st, "NO [TRYCREATE]")
	// A first message sent without waiting: the folder is looked for
	// before the second is asked for, or its flags are parsed.
	for _, second := range []string{" {3}", ` (\Bogus) {3}`} {
		c.tag++
		tag := fmt.Sprintf("t%d", c.tag)
		if _, err := io.WriteString(c.c, fmt.Sprintf("%s APPEND Nowhere {%d+}\r\n%s%s\r\n", tag, len(m), m, second)); err != nil {
			t.Fatal(err)
		}
		if l := c.line(); !strings.HasPrefix(l, tag+" NO [TRYCREATE]") {
			t.Fatalf("LITERAL+ message, then%s to no such mailbox: %q", second, l)
		}
	}

	if err := e.svc.SetQuota(context.Background(), "alice@example.org", int64(len(m)+len(m)/2)); err != nil {
		t.Fatal(err)
	}
	_, st = c.appendParts(" INBOX ", lit{data: m}, " ", lit{data: m})
	wantStatus(t, "second message over the quota", st, "NO [OVERQUOTA]")
	if got := c.folderState("INBOX"); got != "MESSAGES 0 UIDNEXT 1" {
		t.Fatalf("after refused MULTIAPPENDs: %s", got)
	}
	_, st = c.appendParts(" INBOX ", lit{data: m})
	wantStatus(t, "one message within the quota", st, "OK [APPENDUID ")
	if !strings.Contains(st, " 1]") {
		t.Fatalf("first stored message's UID: %q", st)
	}
}
