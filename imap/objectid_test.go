package imap

import (
	"regexp"
	"strings"
	"testing"
)

// TestObjectID: RFC 8474 MAILBOXID in CREATE, SELECT and STATUS, kept by
// RENAME; EMAILID shared by a copy; THREADID NIL.
func TestObjectID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	r := e.raw("alice")
	_, st := r.cmd("CREATE Projects")
	m := regexp.MustCompile(`^OK \[MAILBOXID \((M\d+)\)\]`).FindStringSubmatch(st)
	if m == nil {
		t.Fatalf("CREATE: %s", st)
	}
	id := m[1]
	r.ok("RENAME Projects Work")
	contains(t, r.ok("STATUS Work (MESSAGES MAILBOXID)"), "MAILBOXID ("+id+")")
	contains(t, r.ok("SELECT Work"), "* OK [MAILBOXID ("+id+")]")
	r.ok("SELECT INBOX")
	u := r.ok("FETCH 1 (EMAILID THREADID)")
	em := regexp.MustCompile(`EMAILID \((E\d+)\) THREADID NIL`).FindStringSubmatch(strings.Join(u, "\n"))
	if em == nil {
		t.Fatalf("FETCH EMAILID: %q", u)
	}
	r.ok("COPY 1 Work")
	r.ok("SELECT Work")
	contains(t, r.ok("FETCH 1 EMAILID"), "EMAILID ("+em[1]+")")
}

// TestPreview: RFC 8970 PREVIEW: the start of the first text part,
// decoded, quoted lines left out, white space collapsed.
func TestPreview(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "From: a@example.net\nTo: alice@example.org\nSubject: q\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain; charset=iso-8859-1\n"+
		"Content-Transfer-Encoding: quoted-printable\n\nGr=FC=DFe aus   M=FCnchen,\n> old quoted text\nbis bald.\n"+
		"--b\nContent-Type: text/html\n\n<p>ignored</p>\n--b--\n")
	e.deliver("alice", "From: a@example.net\nTo: alice@example.org\nSubject: h\nContent-Type: text/html\n\n<html><body><h1>Hello</h1><p>there &amp; again</p></body></html>\n")
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	// 8-bit text goes in a literal to a client without UTF8=ACCEPT.
	if u := strings.Join(r.ok("FETCH 1 (PREVIEW)"), "\n"); !strings.Contains(u, "PREVIEW {31}\r\nGrüße aus München, bis bald.)") {
		t.Errorf("PREVIEW: %q", u)
	}
	contains(t, r.ok("FETCH 2 (PREVIEW (LAZY))"), `PREVIEW "Hello there & again"`)
}

// TestSearchObjectID: SEARCH EMAILID finds the messages of one stored
// message, copies included; THREADID finds nothing (THREADID is NIL);
// an unknown id finds nothing.
func TestSearchObjectID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	e.deliver("alice", testMessage(2))
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	r.ok("COPY 2 INBOX")
	u := r.ok("FETCH 2 EMAILID")
	em := regexp.MustCompile(`EMAILID \((E\d+)\)`).FindStringSubmatch(strings.Join(u, "\n"))
	if em == nil {
		t.Fatalf("FETCH EMAILID: %q", u)
	}
	contains(t, r.ok("SEARCH EMAILID "+em[1]), "* SEARCH 2 3")
	contains(t, r.ok("SEARCH NOT EMAILID "+em[1]), "* SEARCH 1")
	contains(t, r.ok("SEARCH OR EMAILID "+em[1]+" SUBJECT \"message 1\""), "* SEARCH 1 2 3")
	if u := r.ok("SEARCH EMAILID E999999"); len(u) != 1 || u[0] != "* SEARCH" {
		t.Errorf("unknown EMAILID: %q", u)
	}
	if u := r.ok("SEARCH THREADID T1"); len(u) != 1 || u[0] != "* SEARCH" {
		t.Errorf("THREADID: %q", u)
	}
}
