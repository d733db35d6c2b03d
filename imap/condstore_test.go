package imap

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// modSeqIn returns the first number after "HIGHESTMODSEQ " or "MODSEQ ("
// in lines.
func modSeqIn(t *testing.T, lines []string, re string) uint64 {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(strings.Join(lines, "\n"))
	if m == nil {
		t.Fatalf("no %s in %q", re, lines)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// TestCondStore: RFC 7162 section 3.1 through a raw connection.
func TestCondStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 3; i++ {
		e.deliver("alice", testMessage(i))
	}
	// Enabled implicitly by the first command that uses it, which tells
	// the client HIGHESTMODSEQ at once.
	a := e.raw("alice")
	u := a.ok("SELECT INBOX")
	for _, l := range u {
		if strings.Contains(l, "HIGHESTMODSEQ") {
			t.Errorf("HIGHESTMODSEQ before CONDSTORE is on: %q", l)
		}
	}
	u = a.ok("FETCH 1 (MODSEQ)")
	hms := modSeqIn(t, u, `\[HIGHESTMODSEQ (\d+)\]`)
	m1 := modSeqIn(t, u, `\* 1 FETCH \(MODSEQ \((\d+)\)\)`)
	if m1 == 0 || m1 > hms {
		t.Fatalf("MODSEQ %d, HIGHESTMODSEQ %d", m1, hms)
	}
	// STORE answers with UID and MODSEQ now (RFC 7162 3.2.4), higher
	// than before.
	u = a.ok(`STORE 2 +FLAGS (\Flagged)`)
	m2 := modSeqIn(t, u, `\* 2 FETCH \(UID 2 FLAGS \([^)]*\) MODSEQ \((\d+)\)\)`)
	if m2 <= hms {
		t.Errorf("STORE's MODSEQ %d not above %d", m2, hms)
	}
	// UNCHANGEDSINCE below message 2's MODSEQ leaves it alone.
	u, st := a.cmd("STORE 1:2 (UNCHANGEDSINCE " + strconv.FormatUint(hms, 10) + `) +FLAGS (\Seen)`)
	if !strings.HasPrefix(st, "OK [MODIFIED 2]") {
		t.Errorf("UNCHANGEDSINCE: %s %q", st, u)
	}
	contains(t, a.ok("FETCH 2 (FLAGS MODSEQ)"), `* 2 FETCH (FLAGS (\Flagged \Recent) MODSEQ (`)
	contains(t, a.ok("FETCH 1 (FLAGS MODSEQ)"), `* 1 FETCH (FLAGS (\Seen \Recent) MODSEQ (`)
	// A FETCH that changes nothing answers what it asked for.
	if u := a.ok("FETCH 1 FLAGS"); len(u) != 1 || u[0] != `* 1 FETCH (FLAGS (\Seen \Recent))` {
		t.Errorf("FETCH 1 FLAGS with CONDSTORE on: %q", u)
	}
	// CHANGEDSINCE: only the messages changed since.
	u = a.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE " + strconv.FormatUint(hms, 10) + ")")
	if len(u) != 2 || !strings.HasPrefix(u[0], "* 1 FETCH") || !strings.HasPrefix(u[1], "* 2 FETCH") {
		t.Errorf("CHANGEDSINCE %d: %q", hms, u)
	}
	// SEARCH MODSEQ answers with the highest MODSEQ of what it found.
	u = a.ok("SEARCH MODSEQ " + strconv.FormatUint(hms+1, 10))
	if got := modSeqIn(t, u, `\* SEARCH 1 2 \(MODSEQ (\d+)\)`); got <= m2 {
		t.Errorf("SEARCH MODSEQ: %q", u)
	}
	contains(t, a.ok("SEARCH RETURN (COUNT) MODSEQ 1"), "COUNT 3 MODSEQ ")
	// STATUS and a later SELECT (CONDSTORE) show the new HIGHESTMODSEQ.
	b := e.raw("alice")
	now := modSeqIn(t, b.ok("STATUS INBOX (HIGHESTMODSEQ)"), `HIGHESTMODSEQ (\d+)\)`)
	if now <= m2 {
		t.Errorf("STATUS HIGHESTMODSEQ %d", now)
	}
	if got := modSeqIn(t, b.ok("SELECT INBOX (CONDSTORE)"), `\[HIGHESTMODSEQ (\d+)\]`); got != now {
		t.Errorf("SELECT (CONDSTORE) HIGHESTMODSEQ %d, STATUS %d", got, now)
	}
	// Another session's change comes with its MODSEQ.
	a.ok(`STORE 3 +FLAGS (\Answered)`)
	contains(t, b.ok("NOOP"), `* 3 FETCH (UID 3 FLAGS (\Answered) MODSEQ (`)
	// A FETCH that sets \Seen tells of its change with UID and MODSEQ.
	contains(t, a.ok("FETCH 3 BODY[HEADER.FIELDS (Subject)]"), `* 3 FETCH (UID 3 FLAGS (\Seen \Answered \Recent) MODSEQ (`)
	// STORE .SILENT still tells the MODSEQ, with the UID.
	contains(t, a.ok(`STORE 3 -FLAGS.SILENT (\Seen)`), `* 3 FETCH (UID 3 MODSEQ (`)
}

// TestQResync: RFC 7162 section 3.2: a client back after changes learns
// the expunged UIDs and the changed flags in SELECT, and VANISHED takes
// EXPUNGE's place.
func TestQResync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 4; i++ {
		e.deliver("alice", testMessage(i))
	}
	a := e.raw("alice")
	a.expect("SELECT INBOX (QRESYNC (1 1))", "BAD")
	contains(t, a.ok("ENABLE QRESYNC"), "* ENABLED QRESYNC")
	u := a.ok("SELECT INBOX")
	uv := modSeqIn(t, u, `\[UIDVALIDITY (\d+)\]`)
	hms := modSeqIn(t, u, `\[HIGHESTMODSEQ (\d+)\]`)
	a.ok("LOGOUT")

	b := e.raw("alice")
	b.ok("SELECT INBOX")
	b.ok(`STORE 2 +FLAGS (\Flagged)`)
	b.ok(`STORE 3 +FLAGS (\Deleted)`)
	b.ok("EXPUNGE")

	c := e.raw("alice")
	c.ok("ENABLE QRESYNC")
	u = c.ok("SELECT INBOX (QRESYNC (" + strconv.FormatUint(uv, 10) + " " + strconv.FormatUint(hms, 10) + " 1:4))")
	contains(t, u, "* VANISHED (EARLIER) 3")
	contains(t, u, `* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (`)
	for _, l := range u {
		if strings.HasPrefix(l, "* 1 FETCH") || strings.HasPrefix(l, "* 3 FETCH") {
			t.Errorf("unchanged message reported: %q", l)
		}
	}
	// A wrong UIDVALIDITY: nothing to resynchronise.
	d := e.raw("alice")
	d.ok("ENABLE QRESYNC")
	u = d.ok("SELECT INBOX (QRESYNC (" + strconv.FormatUint(uv+1, 10) + " " + strconv.FormatUint(hms, 10) + "))")
	if strings.Contains(strings.Join(u, "\n"), "VANISHED") {
		t.Errorf("VANISHED with another UIDVALIDITY: %q", u)
	}
	// UID FETCH ... (CHANGEDSINCE ... VANISHED).
	u = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + strconv.FormatUint(hms, 10) + " VANISHED)")
	contains(t, u, "* VANISHED (EARLIER) 3")
	// Expunges by others come as VANISHED, with the UID.
	b.ok(`STORE 1 +FLAGS (\Deleted)`)
	b.ok("EXPUNGE")
	u = c.ok("NOOP")
	contains(t, u, "* VANISHED 1")
	for _, l := range u {
		if strings.HasSuffix(l, "EXPUNGE") {
			t.Errorf("EXPUNGE to a QRESYNC client: %q", l)
		}
	}
	// SELECT of another folder says CLOSED first.
	contains(t, c.ok("SELECT INBOX"), "* OK [CLOSED]")
}

// TestQResyncManyChanges: past fewChanges changed messages SELECT
// (QRESYNC) reads the folder in order instead of the MODSEQ index, and
// reports the same.
func TestQResyncManyChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = fewChanges + 20
	for i := 1; i <= n; i++ {
		e.deliver("alice", testMessage(i))
	}
	a := e.raw("alice")
	a.ok("ENABLE QRESYNC")
	u := a.ok("SELECT INBOX")
	uv := modSeqIn(t, u, `\[UIDVALIDITY (\d+)\]`)
	hms := modSeqIn(t, u, `\[HIGHESTMODSEQ (\d+)\]`)
	for _, set := range []string{"1:10", "1:*"} {
		a.ok(`STORE ` + set + ` +FLAGS (\Seen)`)
		c := e.raw("alice")
		c.ok("ENABLE QRESYNC")
		u = c.ok("SELECT INBOX (QRESYNC (" + strconv.FormatUint(uv, 10) + " " + strconv.FormatUint(hms, 10) + "))")
		fetches := 0
		for _, l := range u {
			if strings.Contains(l, " FETCH (UID ") && strings.Contains(l, `\Seen`) {
				fetches++
			}
		}
		want := 10
		if set == "1:*" {
			want = n
		}
		if fetches != want {
			t.Errorf("after STORE %s: %d FETCH responses, want %d", set, fetches, want)
		}
	}
}

// TestModSeqNeverGoesBack: a FETCH reads a snapshot newer than the flag
// changes still queued for its session; those queued changes must not
// then show an older MODSEQ (imaptest's stress found "MODSEQ dropped"),
// nor a keyword before FLAGS names it.
func TestModSeqNeverGoesBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	a, b := e.raw("alice"), e.raw("alice")
	a.ok("SELECT INBOX (CONDSTORE)")
	b.ok("SELECT INBOX")
	b.ok(`STORE 1 +FLAGS (\Flagged)`)
	b.ok(`STORE 1 +FLAGS ($fresh)`)
	u := a.ok("FETCH 1 (FLAGS MODSEQ)")
	var seen []uint64
	flagsAt, fetchAt := -1, -1
	for i, l := range u {
		if m := regexp.MustCompile(`MODSEQ \((\d+)\)`).FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			if len(seen) > 0 && n < seen[len(seen)-1] {
				t.Errorf("MODSEQ went back: %q", u)
			}
			seen = append(seen, n)
			if fetchAt < 0 && strings.Contains(l, "$fresh") {
				fetchAt = i
			}
		}
		if strings.HasPrefix(l, "* FLAGS (") && strings.Contains(l, "$fresh") && flagsAt < 0 {
			flagsAt = i
		}
	}
	if fetchAt < 0 || flagsAt < 0 || flagsAt > fetchAt {
		t.Errorf("$fresh shown before FLAGS named it: %q", u)
	}
}

// A FETCH that may not carry an expunge still shows flags as of its
// snapshot; the flag changes queued behind that expunge, older than what
// it showed, must not be told after it: the client would see the flags
// and MODSEQ of the message go back (imaptest's stress with 20 clients
// on one mailbox found it).
func TestFetchedFlagsNotUndoneByQueuedChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 3; i++ {
		e.deliver("alice", testMessage(i))
	}
	a := e.raw("alice")
	a.ok("ENABLE CONDSTORE")
	a.ok("SELECT INBOX")
	b := e.raw("alice")
	b.ok("SELECT INBOX")
	b.ok(`STORE 1 +FLAGS.SILENT (\Flagged)`) // queued for a before the expunge
	b.ok(`STORE 3 +FLAGS.SILENT (\Deleted)`)
	b.ok("EXPUNGE")
	b.ok(`STORE 1 +FLAGS.SILENT (\Seen)`) // queued behind it

	modSeqOf := func(lines []string) []uint64 {
		var out []uint64
		for _, l := range lines {
			if m := regexp.MustCompile(`^\* 1 FETCH .*MODSEQ \((\d+)\)`).FindStringSubmatch(l); m != nil {
				n, _ := strconv.ParseUint(m[1], 10, 64)
				out = append(out, n)
			}
		}
		return out
	}
	// FETCH by number may not carry the EXPUNGE (RFC 9051 7.5.1).
	u := a.ok("FETCH 1 (FLAGS MODSEQ)")
	seen := modSeqOf(u)
	u = a.ok("NOOP")
	seen = append(seen, modSeqOf(u)...)
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Fatalf("message 1's MODSEQ went back: %v (FETCH then NOOP)", seen)
		}
	}
	for _, l := range u {
		if strings.HasPrefix(l, "* 1 FETCH") && !strings.Contains(l, `\Seen`) {
			t.Fatalf("a queued older change undid \\Seen: %q", l)
		}
	}
}

// TestQResyncFetchHasUID: once QRESYNC is on, every FETCH response
// carries UID, the ones that FETCH, STORE and STORE .SILENT answer with
// too: a QRESYNC client keys what it holds by UID (Dovecot sends it
// always then, and imaptest's qresync mode flags any FETCH without it).
func TestQResyncFetchHasUID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	e.deliver("alice", testMessage(2))
	a := e.raw("alice")
	a.ok("ENABLE QRESYNC")
	a.ok("SELECT INBOX")
	for _, cmd := range []string{
		"FETCH 1 FLAGS",
		"FETCH 2 (RFC822.SIZE)",
		"STORE 1 +FLAGS (\\Flagged)",
		"STORE 2 +FLAGS.SILENT (\\Flagged)",
		"STORE 1:2 -FLAGS (\\Flagged)",
	} {
		u := a.ok(cmd)
		n := 0
		for _, l := range u {
			if !strings.Contains(l, " FETCH (") {
				continue
			}
			n++
			if !strings.Contains(l, "UID ") {
				t.Errorf("%s: %q has no UID", cmd, l)
			}
		}
		if n == 0 {
			t.Errorf("%s: no FETCH response in %q", cmd, u)
		}
	}
	// Without QRESYNC, FETCH answers what was asked.
	b := e.raw("alice")
	b.ok("SELECT INBOX")
	if u := b.ok("FETCH 1 FLAGS"); len(u) != 1 || strings.Contains(u[0], "UID") {
		t.Errorf("FETCH 1 FLAGS without QRESYNC: %q", u)
	}
}

// A QRESYNC session shown a MODSEQ above an expunge it cannot yet be told
// of (a FETCH by sequence number) is sent HIGHESTMODSEQ below that
// expunge's, so that resynchronising from what it was told reports the
// expunge (RFC 5162's erratum 1810).
func TestHeldExpungeLowersHighestModSeq(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 3; i++ {
		e.deliver("alice", testMessage(i))
	}
	a := e.raw("alice")
	a.ok("ENABLE QRESYNC")
	uv := modSeqIn(t, a.ok("SELECT INBOX"), `\[UIDVALIDITY (\d+)\]`)
	b := e.raw("alice")
	b.ok("SELECT INBOX")
	b.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.ok("EXPUNGE")
	b.ok(`STORE 1 +FLAGS.SILENT (\Flagged)`) // UID 2, after the expunge

	untagged := a.ok("FETCH 2 (UID MODSEQ)")
	var shown, lowered uint64
	for _, l := range untagged {
		if m := regexp.MustCompile(`^\* 2 FETCH \(.*MODSEQ \((\d+)\)`).FindStringSubmatch(l); m != nil {
			shown, _ = strconv.ParseUint(m[1], 10, 64)
		}
		if m := regexp.MustCompile(`^\* OK \[HIGHESTMODSEQ (\d+)\]`).FindStringSubmatch(l); m != nil {
			lowered, _ = strconv.ParseUint(m[1], 10, 64)
		}
		if strings.Contains(l, "VANISHED") || strings.Contains(l, "EXPUNGE") {
			t.Fatalf("FETCH by number told of an expunge: %q", l)
		}
	}
	if shown == 0 || lowered == 0 || lowered >= shown {
		t.Fatalf("FETCH showed MODSEQ %d, HIGHESTMODSEQ %d: %q", shown, lowered, untagged)
	}

	// Resynchronising from the lowered value reports the expunge.
	a.ok("LOGOUT")
	c := e.raw("alice")
	c.ok("ENABLE QRESYNC")
	got := c.ok("SELECT INBOX (QRESYNC (" + strconv.FormatUint(uv, 10) + " " + strconv.FormatUint(lowered, 10) + " 1:3))")
	contains(t, got, "* VANISHED (EARLIER) 1")
}
