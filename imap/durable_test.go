package imap

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store/sqlite"
)

// TestResponsesWaitForDurable checks the durability barrier (durable.go):
// with the store's fsync held, a STORE's OK, and other sessions' FETCH and
// SEARCH that read the new flags, are held back until the fsync is done,
// while a session of another account that depends on nothing in flight
// is answered at once.
func TestResponsesWaitForDurable(t *testing.T) {
	h := startHeldServer(t)
	ln := h.ln
	a := dialRaw(t, ln.Addr().String(), "alice")
	a.ok("SELECT INBOX")
	b := dialRaw(t, ln.Addr().String(), "alice")
	b.ok("SELECT INBOX")
	c := dialRaw(t, ln.Addr().String(), "alice")
	c.ok("SELECT INBOX")
	other := dialRaw(t, ln.Addr().String(), "bob")
	other.ok("SELECT INBOX")

	h.hold.Store(true)
	storeTag := a.send(`STORE 1 +FLAGS (\Flagged)`)
	quiet(t, a, "STORE's OK before its commit was durable")
	fetchTag := b.send("FETCH 1 (FLAGS)")
	quiet(t, b, "another session's FETCH of the flags before they were durable")
	searchTag := c.send("SEARCH FLAGGED")
	quiet(t, c, "another session's SEARCH by the flags before they were durable")
	if _, st := other.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("NOOP of another account: %s", st)
	}

	h.let()
	if _, st := a.until(storeTag); !strings.HasPrefix(st, "OK") {
		t.Fatalf("STORE: %s", st)
	}
	untagged, st := b.until(fetchTag)
	if !strings.HasPrefix(st, "OK") || !strings.Contains(strings.Join(untagged, "\n"), `\Flagged`) {
		t.Fatalf("FETCH: %q %s", untagged, st)
	}
	untagged, st = c.until(searchTag)
	if !strings.HasPrefix(st, "OK") || !slices.Contains(untagged, "* SEARCH 1") {
		t.Fatalf("SEARCH: %q %s", untagged, st)
	}
}

// heldServer is a server over a SQLite store whose fsyncs are held while
// hold is set, until release is closed.
type heldServer struct {
	ln      net.Listener
	srv     *Server
	svc     *mailbox.Service
	hold    atomic.Bool
	release chan struct{}
}

// startHeldServer starts a heldServer for alice and bob, alice with one
// message in INBOX.
func startHeldServer(t *testing.T) *heldServer {
	h := &heldServer{release: make(chan struct{})}
	syncWAL := func() error {
		if h.hold.Load() {
			<-h.release
		}
		return nil
	}
	db, svc, log := sqliteService(t, sqlite.Options{SyncWAL: syncWAL}, "alice", "bob")
	h.svc = svc
	if _, _, err := svc.Append(context.Background(), mustAccount(t, svc, "alice"), "INBOX", []byte("Subject: x\r\n\r\nhi\r\n"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	srv := New(svc, Options{Logger: log, Throttle: mailbox.NewThrottle(mailbox.ThrottleOptions{Base: time.Millisecond, Max: time.Millisecond})})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.ln, h.srv = ln, srv
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		h.let()
		srv.Shutdown(context.Background())
		<-served
		db.Close()
	})
	return h
}

// let lets the held fsyncs, and all later ones, go.
func (h *heldServer) let() {
	if h.hold.Swap(false) {
		close(h.release)
	}
}

// TestByeWaitsForDurableDelete: a session whose folder another session
// deleted is told BYE only once the deletion is durable.
func TestByeWaitsForDurableDelete(t *testing.T) {
	h := startHeldServer(t)
	a := dialRaw(t, h.ln.Addr().String(), "alice")
	a.ok("CREATE Lists")
	b := dialRaw(t, h.ln.Addr().String(), "alice")
	b.ok("SELECT Lists")

	h.hold.Store(true)
	deleteTag := a.send("DELETE Lists")
	quiet(t, a, "DELETE's OK before its commit was durable")
	b.send("NOOP")
	quiet(t, b, "BYE for a deletion not yet durable")
	h.let()
	if _, st := a.until(deleteTag); !strings.HasPrefix(st, "OK") {
		t.Fatalf("DELETE: %s", st)
	}
	if l := b.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("after the deletion: %q, want BYE", l)
	}
}

// quiet fails if c receives anything within a short while.
func quiet(t *testing.T, c *rawConn, what string) {
	t.Helper()
	c.c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	l, err := c.r.ReadString('\n')
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s: got %q (%v)", what, l, err)
	}
}

func mustAccount(t *testing.T, svc *mailbox.Service, user string) int64 {
	t.Helper()
	acct, err := svc.Authenticate(context.Background(), user+"@example.org", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return acct.ID
}

// TestPipelinedResponsesFlushedBeforeWaiting: responses to pipelined
// commands go out together once the pipeline is drained, and before the
// session waits for the rest of a command the client has only begun: a
// client may wait for them before it sends more.
func TestPipelinedResponsesFlushedBeforeWaiting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("alice")
	if _, err := io.WriteString(c.c, "p1 NOOP\r\np2 NOOP\r\np3 NO"); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"p1", "p2"} {
		if _, st := c.until(tag); !strings.HasPrefix(st, "OK") {
			t.Fatalf("%s: %s", tag, st)
		}
	}
	if _, err := io.WriteString(c.c, "OP\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, st := c.until("p3"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("p3: %s", st)
	}
}

// TestExpungeOfNothingWaitsForNoFsync: EXPUNGE in a folder without
// \Deleted messages is answered from a read, so it waits for no write
// and no fsync; one that removes messages still does.
func TestExpungeOfNothingWaitsForNoFsync(t *testing.T) {
	h := startHeldServer(t)
	a := dialRaw(t, h.ln.Addr().String(), "alice")
	a.ok("SELECT INBOX")

	h.hold.Store(true)
	a.wait = 2 * time.Second
	a.ok("EXPUNGE") // a write would wait for the held fsync
	a.ok("UID EXPUNGE 1")
	a.wait = 0

	tag := a.send(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	quiet(t, a, "STORE's OK before its commit was durable")
	h.let()
	if _, st := a.until(tag); !strings.HasPrefix(st, "OK") {
		t.Fatalf("STORE: %s", st)
	}
	got := a.ok("EXPUNGE")
	contains(t, got, "* 1 EXPUNGE")
}

// TestExpungeAfterOwnDeleteWrites: a session that marked a message
// \Deleted expunges with a write at once, without reading first whether
// anything is marked (mailbox.Service.ExpungeMarked). Here another
// session took the flag off meanwhile, so the write removes nothing, and
// its OK waits for its fsync like any write's.
func TestExpungeAfterOwnDeleteWrites(t *testing.T) {
	h := startHeldServer(t)
	a := dialRaw(t, h.ln.Addr().String(), "alice")
	a.ok("SELECT INBOX")
	a.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	b := dialRaw(t, h.ln.Addr().String(), "alice")
	b.ok("SELECT INBOX")
	b.ok(`STORE 1 -FLAGS.SILENT (\Deleted)`)

	h.hold.Store(true)
	tag := a.send("EXPUNGE")
	quiet(t, a, "EXPUNGE's OK before its write was durable")
	h.let()
	u, st := a.until(tag)
	if !strings.HasPrefix(st, "OK") {
		t.Fatalf("EXPUNGE: %s", st)
	}
	for _, l := range u {
		if strings.Contains(l, "EXPUNGE") {
			t.Fatalf("EXPUNGE removed a message that was no longer marked: %q", u)
		}
	}
	a.ok("EXPUNGE")
}
