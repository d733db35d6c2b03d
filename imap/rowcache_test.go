package imap

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"pillarbox/mailbox"
)

// inboxRows are the UIDs whose rows the only box of the hub keeps.
func (e *testEnv) inboxRows() []uint32 {
	e.t.Helper()
	e.srv.hub.mu.Lock()
	defer e.srv.hub.mu.Unlock()
	var uids []uint32
	for _, b := range e.srv.hub.boxes {
		b.mu.Lock()
		for uid := range b.rows {
			uids = append(uids, uid)
		}
		b.mu.Unlock()
	}
	slices.Sort(uids)
	return uids
}

// storeView returns a session on a second server over the same Service:
// its boxes are its own, so that its first FETCH of a folder reads the
// store, whatever the first server's boxes keep.
func (e *testEnv) storeView(user string) *rawConn {
	e.t.Helper()
	srv := New(e.svc, e.opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go srv.Serve(ln)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return dialRaw(e.t, ln.Addr().String(), user)
}

var fetchLineRE = regexp.MustCompile(`^\* (\d+) FETCH \((.*)\)$`)

// fetchByUID runs a FETCH whose items include UID and returns each
// response's items by UID, with its sequence number in front.
func (c *rawConn) fetchByUID(line string) map[string]string {
	c.t.Helper()
	out := make(map[string]string)
	uidRE := regexp.MustCompile(`UID (\d+)`)
	for _, l := range c.ok(line) {
		m := fetchLineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		u := uidRE.FindStringSubmatch(m[2])
		if u == nil {
			c.t.Fatalf("%s: no UID in %q", line, l)
		}
		// \Recent is the session's (RFC 3501 2.3.2), not the store's.
		items := strings.NewReplacer(` \Recent`, "", `\Recent `, "", `\Recent`, "").Replace(m[2])
		out[u[1]] = m[1] + " " + items
	}
	return out
}

// A FETCH of messages whose rows the box keeps is answered from memory:
// what it says must be what the store holds after other sessions' flag
// changes, expunges and appends, and after the session's own.
func TestFetchFromKeptRows(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 5; i++ {
		e.deliver("alice", testMessage(i))
	}
	const items = "(UID FLAGS MODSEQ INTERNALDATE RFC822.SIZE ENVELOPE)"
	a := e.raw("alice")
	a.ok("SELECT INBOX (CONDSTORE)")
	first := a.fetchByUID("FETCH 1:5 " + items)
	if len(first) != 5 {
		t.Fatalf("first FETCH: %v", first)
	}
	if e.srv.ownsStore {
		if got := e.inboxRows(); !slices.Equal(got, []uint32{1, 2, 3, 4, 5}) {
			t.Fatalf("the box keeps the rows of %v, want 1 to 5", got)
		}
	}
	// The same FETCH again, now from the kept rows.
	if again := a.fetchByUID("FETCH 1:5 " + items); !maps.Equal(again, first) {
		t.Fatalf("FETCH from kept rows:\n%v\nfrom the store:\n%v", again, first)
	}

	b := e.raw("alice")
	b.ok("SELECT INBOX")
	b.ok(`STORE 2 +FLAGS (\Flagged $Work)`)
	b.ok(`STORE 3 +FLAGS.SILENT (\Deleted)`)
	b.ok("EXPUNGE")
	b.ok(`STORE 4 -FLAGS (\Seen)`) // message 5 before the expunge

	// a has not been told of the expunge: its numbers stay, message 3 is
	// left out (but for the flag change it is told of), and the flags are
	// the new ones.
	got := a.fetchByUID("FETCH 1:5 (UID FLAGS MODSEQ)")
	fresh := e.storeView("alice")
	fresh.ok("EXAMINE INBOX")
	want := fresh.fetchByUID("FETCH 1:* (UID FLAGS MODSEQ)")
	for uid, w := range want {
		// fresh numbers from 1 without the expunged message; a still
		// numbers message 4 and 5 as 4 and 5.
		_, rest, _ := strings.Cut(w, " ")
		_, gotRest, _ := strings.Cut(got[uid], " ")
		if gotRest != rest {
			t.Errorf("UID %s before NOOP: %q, the store has %q", uid, got[uid], w)
		}
	}
	if len(got) != 5 || got["3"] != `3 UID 3 FLAGS (\Deleted) MODSEQ (8)` {
		t.Errorf("FETCH before NOOP: %v, want UIDs 1, 2, 4, 5 and the flag change of 3", got)
	}
	if !strings.Contains(got["2"], `\Flagged $Work`) || !strings.HasPrefix(got["5"], "5 ") {
		t.Errorf("FETCH before NOOP: %v", got)
	}

	a.ok("NOOP")
	if got := a.fetchByUID("FETCH 1:* (UID FLAGS MODSEQ)"); !maps.Equal(got, want) {
		t.Fatalf("after NOOP:\n%v\nthe store:\n%v", got, want)
	}

	// A FETCH that sets \Seen shows it, and so does the next.
	a.ok("FETCH 3 (BODY[TEXT])")
	if got := a.fetchByUID("FETCH 3 (UID FLAGS)"); !strings.Contains(got["4"], `\Seen`) {
		t.Fatalf("after BODY[TEXT]: %v", got)
	}

	// New mail: kept from its announcement on.
	b.appendMsg("INBOX", `(\Draft) `, testMessage(9))
	a.ok("NOOP")
	for range 2 {
		got := a.fetchByUID("FETCH 5 (UID FLAGS RFC822.SIZE)")
		if !strings.Contains(got["6"], `\Draft`) || !strings.HasPrefix(got["6"], "5 ") {
			t.Fatalf("the appended message: %v", got)
		}
	}
	final := e.storeView("alice")
	final.ok("EXAMINE INBOX")
	if got, want := a.fetchByUID("FETCH 1:* "+items), final.fetchByUID("FETCH 1:* "+items); !maps.Equal(got, want) {
		t.Fatalf("at the end:\n%v\nthe store:\n%v", got, want)
	}
}

// A box keeps rows read in a snapshot only if no change came after it,
// and applies the changes that come to the rows it keeps.
func TestBoxKeepsRowsAtItsVersion(t *testing.T) {
	h := newHub(nil, slog.New(slog.DiscardHandler))
	v := h.attach(mailbox.Folder{ID: 7}, 3, false, 0, 0, nil)
	b := v.box
	b.mu.Lock()
	ver := b.version()
	b.mu.Unlock()
	v.installUIDs([]uint32{1, 2, 3}, ver)
	rows := []mailbox.Message{{UID: 1, ModSeq: 5, Flags: []string{`\Seen`}}, {UID: 2, ModSeq: 6}, {UID: 3, ModSeq: 6}}
	all := mailbox.UIDSet{{Start: 1, Stop: 3}}

	h.MailboxChanged(mailbox.Change{Kind: mailbox.ChangeFlags, MailboxID: 7, UID: 2, Seq: 2, ModSeq: 7, Flags: []string{`\Flagged`}})
	b.keepRows(ver, rows) // read before the change: stale
	if _, msgs, ok := v.keptMessages(all); ok {
		t.Fatalf("rows read before a change were kept: %v", msgs)
	}

	b.mu.Lock()
	ver = b.version()
	b.mu.Unlock()
	rows[1].ModSeq, rows[1].Flags = 7, []string{`\Flagged`}
	b.keepRows(ver, rows)
	h.MailboxChanged(mailbox.Change{Kind: mailbox.ChangeFlags, MailboxID: 7, UID: 1, Seq: 1, ModSeq: 8, Flags: nil})
	h.MailboxChanged(mailbox.Change{Kind: mailbox.ChangeExpunged, MailboxID: 7, UID: 2, Seq: 2, ModSeq: 9})
	m, msgs, ok := v.keptMessages(all)
	if !ok || len(msgs) != 2 {
		t.Fatalf("kept: %v %v", msgs, ok)
	}
	if msgs[0].UID != 1 || msgs[0].ModSeq != 8 || len(msgs[0].Flags) != 0 || msgs[0].Seq != 1 {
		t.Errorf("message 1: %+v", msgs[0])
	}
	if msgs[1].UID != 3 || msgs[1].Seq != 2 || m.toClient(msgs[1].Seq) != 3 {
		t.Errorf("message 3: %+v, client number %d", msgs[1], m.toClient(msgs[1].Seq))
	}

	// A new message has no row: the FETCH reads the store.
	h.MailboxChanged(mailbox.Change{Kind: mailbox.ChangeAdded, MailboxID: 7, UID: 4, ModSeq: 10})
	if _, _, ok := v.keptMessages(mailbox.UIDSet{{Start: 3, Stop: 4}}); ok {
		t.Error("a message without a kept row was answered from memory")
	}
	if _, _, ok := v.keptMessages(mailbox.UIDSet{{Start: 3, Stop: 3}}); !ok {
		t.Error("a kept row was not found")
	}

	// A range the wrong way round holds nothing (and must not panic).
	if _, msgs, ok := v.keptMessages(mailbox.UIDSet{{Start: 4, Stop: 1}}); ok && len(msgs) != 0 {
		t.Errorf("range 4 to 1: %v", msgs)
	}

	h.MailboxChanged(mailbox.Change{Kind: mailbox.ChangeFolderDeleted, MailboxID: 7})
	if _, _, ok := v.keptMessages(mailbox.UIDSet{{Start: 3, Stop: 3}}); ok {
		t.Error("a deleted folder's rows are still used")
	}
}

// A FETCH answered from kept rows is held, like one read in a snapshot,
// until the commit whose flags it shows is durable. (The flag change the
// session is told after it depends on that commit too: either holds the
// response.)
func TestKeptRowFetchWaitsForDurable(t *testing.T) {
	h := startHeldServer(t)
	a := dialRaw(t, h.ln.Addr().String(), "alice")
	a.ok("SELECT INBOX")
	b := dialRaw(t, h.ln.Addr().String(), "alice")
	b.ok("SELECT INBOX")
	b.ok("FETCH 1 (UID FLAGS INTERNALDATE)") // the box keeps the row
	if got := (&testEnv{t: t, srv: h.srv}).inboxRows(); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("the box keeps the rows of %v, want 1", got)
	}

	h.hold.Store(true)
	storeTag := a.send(`STORE 1 +FLAGS (\Flagged)`)
	quiet(t, a, "STORE's OK before its commit was durable")
	fetchTag := b.send("FETCH 1 (UID FLAGS)")
	quiet(t, b, "a FETCH from the kept row before the flags it shows were durable")

	h.let()
	if _, st := a.until(storeTag); !strings.HasPrefix(st, "OK") {
		t.Fatalf("STORE: %s", st)
	}
	untagged, st := b.until(fetchTag)
	if !strings.HasPrefix(st, "OK") || !strings.Contains(strings.Join(untagged, "\n"), `\Flagged`) {
		t.Fatalf("FETCH: %q %s", untagged, st)
	}
}

// keptRow is the row the box of alice's INBOX keeps for uid, if any.
func (e *testEnv) keptRow(uid uint32) (mailbox.Message, bool) {
	e.t.Helper()
	e.srv.hub.mu.Lock()
	defer e.srv.hub.mu.Unlock()
	for _, b := range e.srv.hub.boxes {
		b.mu.Lock()
		r, ok := b.rows[uid]
		b.mu.Unlock()
		if ok {
			return r, true
		}
	}
	return mailbox.Message{}, false
}

// New mail's rows come with its announcement, and its envelope and
// structure are cached when it is stored: a FETCH of it needs no read of
// the store, and says what the store holds.
func TestNewMessagesAreKept(t *testing.T) {
	e := newEnv(t)
	a := e.raw("alice")
	a.ok("SELECT INBOX (CONDSTORE)")
	b := e.raw("alice")
	b.appendMsg("INBOX", `(\Draft $Work) "01-Feb-2024 10:00:00 +0530" `, testMessage(1))
	if !e.srv.ownsStore {
		// On a shared store FETCH reads the rows: none is kept for it.
		a.ok("NOOP")
		if _, ok := e.keptRow(1); ok {
			t.Fatal("the box keeps a new message's row on a shared store, where no FETCH reads it")
		}
		return
	}
	e.deliver("alice", testMessage(2))
	b.appendMsg("INBOX", "", "Subject: \xff\xfe bad octets\r\nFrom: =?x-unknown?q?who?= <a@b.example>\r\n\r\nbody\r\n")
	a.ok("NOOP")
	for uid := uint32(1); uid <= 3; uid++ {
		r, ok := e.keptRow(uid)
		if !ok {
			t.Fatalf("the box keeps no row for UID %d before any FETCH", uid)
		}
		if _, _, ok := e.svc.CachedMeta(r.BlobID); !ok {
			t.Fatalf("no envelope and structure cached for UID %d", uid)
		}
	}
	const items = "(UID FLAGS MODSEQ INTERNALDATE RFC822.SIZE SAVEDATE ENVELOPE BODYSTRUCTURE)"
	got := a.fetchByUID("FETCH 1:3 " + items)
	fresh := e.storeView("alice")
	fresh.ok("EXAMINE INBOX")
	if want := fresh.fetchByUID("FETCH 1:3 " + items); !maps.Equal(got, want) {
		t.Fatalf("FETCH of new mail from kept rows:\n%v\nfrom the store:\n%v", got, want)
	}
	if !strings.Contains(got["1"], `FLAGS (\Draft $Work)`) {
		t.Fatalf("the appended message: %s", got["1"])
	}
}
