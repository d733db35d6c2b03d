package imap

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store/storetest"
)

// newCapEnv is a server whose boxes keep at most limit changes for
// their slowest view, with n messages in alice's INBOX.
func newCapEnv(t *testing.T, limit, n int) *testEnv {
	t.Helper()
	e := startEnv(t, storetest.New(t, pg), Options{}, true, func(s *Server) { s.hub.limit = limit })
	for i := 1; i <= n; i++ {
		e.deliver("alice", testMessage(i))
	}
	return e
}

// maxLogLen is the longest change log among the hub's boxes.
func (h *hub) maxLogLen() int {
	h.mu.Lock()
	boxes := make([]*box, 0, len(h.boxes))
	for _, b := range h.boxes {
		boxes = append(boxes, b)
	}
	h.mu.Unlock()
	longest := 0
	for _, b := range boxes {
		longest = max(longest, b.logLen())
	}
	return longest
}

// checkLog fails the test if some box holds more than limit changes.
func (e *testEnv) checkLog(limit int, after string) {
	e.t.Helper()
	if n := e.srv.hub.maxLogLen(); n > limit {
		e.t.Fatalf("after %s: a box holds %d changes, limit %d", after, n, limit)
	}
}

// readToEOF reads what the server sends until it closes the connection.
func (c *rawConn) readToEOF() []string {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if l != "" {
			lines = append(lines, strings.TrimSuffix(l, "\r\n"))
		}
		if errors.Is(err, io.EOF) {
			return lines
		}
		if err != nil {
			c.t.Fatalf("the connection was not closed: %v (after %q)", err, lines)
		}
	}
}

// TestLaggingSessionDropped: a session that keeps an expunge unreported
// by sending only FETCH by sequence number (which may not carry EXPUNGE,
// RFC 9051 7.5.1) made its box keep every later change for as long as it
// lasted. Now, once it is more than the limit behind, it gets BYE and is
// closed, the log stays within the limit, and the others go on.
func TestLaggingSessionDropped(t *testing.T) {
	t.Parallel()
	const limit = 8
	e := newCapEnv(t, limit, 4)
	worker := e.raw("alice")
	worker.ok("SELECT INBOX")
	lagger := e.raw("alice")
	lagger.ok("SELECT INBOX")

	// Two changes: the flag, which the lagger's FETCH reports, and the
	// expunge, which it must hold back.
	worker.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	worker.ok("EXPUNGE")
	behind := 1 // changes the lagger has not been told of
	for i := 0; i < 3*limit; i++ {
		op := "+"
		if i%2 == 1 {
			op = "-"
		}
		worker.ok(fmt.Sprintf(`STORE 1 %sFLAGS.SILENT (\Seen)`, op))
		behind++
		e.checkLog(limit, fmt.Sprintf("change %d", i))
		if behind <= limit {
			// Still within the limit: the lagger is served, and its
			// FETCH tells it no EXPUNGE.
			u := lagger.ok("FETCH 1:* (FLAGS)")
			for _, l := range u {
				if strings.Contains(l, "EXPUNGE") || strings.HasPrefix(l, "* BYE") {
					t.Fatalf("FETCH by sequence number within the limit: %q", u)
				}
			}
			continue
		}
		if behind == limit+1 {
			lines := lagger.readToEOF()
			contains(t, lines, "* BYE", "not yet reported")
		}
	}
	// The worker was never disturbed, and a new session sees the folder.
	worker.ok("NOOP")
	c := e.client("alice")
	d, err := c.Select("INBOX", nil).Wait()
	if err != nil || d.NumMessages != 3 {
		t.Fatalf("SELECT after the drop: %+v, %v", d, err)
	}
	e.checkLog(limit, "the end")
}

// TestPollingSessionKept: sessions that poll (NOOP) at most limit
// changes apart, some of them expunges, are never dropped, however long
// the load goes on, and they are told every expunge.
func TestPollingSessionKept(t *testing.T) {
	t.Parallel()
	const limit = 9 // three rounds of three changes
	e := newCapEnv(t, limit, 4)
	worker := e.raw("alice")
	worker.ok("SELECT INBOX")
	poller := e.raw("alice")
	poller.ok("SELECT INBOX")
	expunges := 0
	for round := 1; round <= 8*limit; round++ {
		// Three changes: a new message, a flag, an expunge.
		worker.appendMsg("INBOX", "", testMessage(100+round))
		worker.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
		worker.ok("EXPUNGE")
		e.checkLog(limit, fmt.Sprintf("round %d", round))
		if round%3 != 0 {
			continue
		}
		// limit changes behind, not more: the poller must stay.
		u := poller.ok("NOOP")
		for _, l := range u {
			if strings.HasPrefix(l, "* BYE") {
				t.Fatalf("round %d: the polling session was dropped: %q", round, u)
			}
			if strings.HasSuffix(l, " EXPUNGE") {
				expunges++
			}
		}
	}
	if expunges != 8*limit {
		t.Fatalf("the poller was told %d expunges, want %d", expunges, 8*limit)
	}
	// Its numbers agree with the store's: message 4 is the last one.
	u := poller.ok("FETCH 4 (UID)")
	contains(t, u, "* 4 FETCH (UID "+fmt.Sprint(4+8*limit)+")")
	worker.ok("NOOP")
	e.checkLog(limit, "the end")
}

// TestDroppedViewIsSafe checks the tracker itself: once a view is
// dropped its applied lies below the log, and pending, capture and apply
// must not index the log with it; the other views go on.
func TestDroppedViewIsSafe(t *testing.T) {
	t.Parallel()
	h := newHub(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.limit = 5 // above twice the folder's size: the limit rules
	f := mailbox.Folder{ID: 7, UIDNext: 3}
	byes := make(chan string, 4)
	lag := h.attach(f, 2, false, 0, 0, func() { byes <- "lag" })
	cur := h.attach(f, 2, false, 0, 0, func() { byes <- "cur" })
	h.MailboxChanged(mailbox.Change{Kind: mailbox.ChangeExpunged, MailboxID: f.ID, UID: 1, Seq: 1, ModSeq: 2})
	catchUp := func() {
		evs := cur.pending()
		known := cur.known
		for _, e := range evs {
			if e.kind == eventExpunged {
				known--
			}
		}
		cur.apply(len(evs), known)
	}
	catchUp()
	for i := range 2 * h.limit {
		h.MailboxChanged(mailbox.Change{Kind: mailbox.ChangeFlags, MailboxID: f.ID, UID: 2, Seq: 1,
			ModSeq: uint64(3 + i), Flags: []string{`\Seen`}})
		catchUp()
		if n := lag.box.logLen(); n > h.limit {
			t.Fatalf("change %d: the log holds %d changes, limit %d", i, n, h.limit)
		}
	}
	select {
	case who := <-byes:
		if who != "lag" {
			t.Fatalf("%s was dropped", who)
		}
	default:
		t.Fatal("the lagging view was not dropped")
	}
	if len(byes) != 0 {
		t.Fatalf("more views dropped: %d", len(byes))
	}
	if lag.applied >= lag.box.base {
		t.Fatalf("the test did not trim past the dropped view: applied %d, base %d", lag.applied, lag.box.base)
	}
	if evs := lag.pending(); evs != nil {
		t.Fatalf("pending of a dropped view: %v", evs)
	}
	if m := lag.capture(); !m.dropped || len(m.events) != 0 {
		t.Fatalf("capture of a dropped view: %+v", m)
	}
	before := lag.applied
	lag.apply(1, 0)
	if lag.applied != before {
		t.Fatal("apply moved a dropped view")
	}
	if why := lag.goneReason(); why != byeDropped {
		t.Fatalf("goneReason of the dropped view: %q", why)
	}
	if why := cur.goneReason(); why != "" {
		t.Fatalf("goneReason of the current view: %q", why)
	}
	if m := cur.capture(); m.dropped || m.known != 1 {
		t.Fatalf("capture of the current view: %+v", m)
	}
	lag.close()
	cur.close()
	if len(h.boxes) != 0 {
		t.Fatalf("boxes left: %d", len(h.boxes))
	}
}

// One command over more messages than the limit (a STORE 1:*, as "mark
// all read" sends) announces a change per message before any session can
// report them: neither the session that sent it nor one that only polls
// may be dropped for it. The box keeps twice the folder's size.
func TestBigStoreDropsNobody(t *testing.T) {
	const limit = 8
	e := newCapEnv(t, limit, 12)
	worker := e.raw("alice")
	worker.ok("SELECT INBOX")
	other := e.raw("alice")
	other.ok("SELECT INBOX")
	u := worker.ok(`STORE 1:* +FLAGS (\Seen)`)
	if n := countPrefix(u, "* "); n != 12 {
		t.Fatalf("STORE 1:* answered %d FETCH responses, want 12: %q", n, u)
	}
	u = other.ok("NOOP")
	for _, l := range u {
		if strings.HasPrefix(l, "* BYE") {
			t.Fatalf("a session that polls was dropped: %q", u)
		}
	}
	if n := countPrefix(u, "* "); n != 12 {
		t.Fatalf("the other session was told %d changes, want 12: %q", n, u)
	}
	worker.ok(`STORE 1:* -FLAGS (\Seen)`)
	other.ok("NOOP")
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
