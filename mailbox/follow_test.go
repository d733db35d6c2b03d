package mailbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"pillarbox/store"
	"pillarbox/store/postgres"
	"pillarbox/store/storetest"
)

// model is a Listener that keeps, for each mailbox it started, the UIDs
// that the announced changes lead to, numbering messages as the IMAP
// trackers do: a change whose sequence number does not name its UID is
// an error.
type model struct {
	mu      sync.Mutex
	uids    map[int64][]uint32
	pending map[int64][]Change // changes after start's snapshot, before its UIDs
	errs    []string
	lost    int
	changed chan struct{}
}

// watch starts a model of a mailbox on svc.
func watch(t *testing.T, svc *Service, id int64) *model {
	t.Helper()
	m := newModel()
	svc.AddListener(m)
	m.start(t, svc, id)
	return m
}

func newModel() *model {
	return &model{uids: make(map[int64][]uint32), pending: make(map[int64][]Change), changed: make(chan struct{}, 1)}
}

func (m *model) Watching(id int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.uids[id]
	_, queued := m.pending[id]
	return ok || queued
}

func (m *model) MailboxChanged(c Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if q, ok := m.pending[c.MailboxID]; ok {
		m.pending[c.MailboxID] = append(q, c)
		return
	}
	m.applyLocked(c)
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *model) applyLocked(c Change) {
	list, ok := m.uids[c.MailboxID]
	if !ok {
		return
	}
	bad := func(why string) { m.errs = append(m.errs, fmt.Sprintf("%s: %+v with %v", why, c, list)) }
	switch c.Kind {
	case ChangeAdded:
		if len(list) > 0 && c.UID <= list[len(list)-1] {
			bad("UID not above the last")
			return
		}
		m.uids[c.MailboxID] = append(list, c.UID)
	case ChangeExpunged, ChangeFlags:
		if c.Seq == 0 || int(c.Seq) > len(list) || list[c.Seq-1] != c.UID {
			bad("sequence number does not name the UID")
			return
		}
		if c.Kind == ChangeExpunged {
			m.uids[c.MailboxID] = slices.Delete(slices.Clone(list), int(c.Seq-1), int(c.Seq))
		}
	case ChangeLost:
		delete(m.uids, c.MailboxID)
		m.lost++
	}
}

// readUIDs reads every UID of the reader's snapshot.
func readUIDs(r *Reader) ([]uint32, error) {
	var out []uint32
	for seq := uint32(1); seq <= r.Counts().Messages; seq++ {
		u, err := r.UIDAt(seq)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// start begins modelling a mailbox from a locked read of svc, as SELECT
// does: its UIDs come from the read's snapshot, the changes after it from
// the feed.
func (m *model) start(t *testing.T, svc *Service, id int64) {
	t.Helper()
	err := svc.ReadMailbox(context.Background(), id, func(Folder, FolderCounts) {
		m.mu.Lock()
		m.pending[id] = []Change{}
		m.mu.Unlock()
	}, func(r *Reader) error {
		uids, err := readUIDs(r)
		if err != nil {
			return err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.uids[id] = uids
		for _, c := range m.pending[id] {
			m.applyLocked(c)
		}
		delete(m.pending, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (m *model) list(id int64) []uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.uids[id])
}

// check compares the model with a locked read of svc: what the read
// sees must be exactly what was announced when it took its snapshot.
func (m *model) check(t *testing.T, svc *Service, id int64, step string) {
	t.Helper()
	var told []uint32
	var stored []uint32
	err := svc.ReadMailbox(context.Background(), id, func(Folder, FolderCounts) { told = m.list(id) }, func(r *Reader) error {
		var err error
		stored, err = readUIDs(r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(told, stored) {
		t.Fatalf("%s: announced UIDs %v, stored %v", step, told, stored)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.errs) > 0 {
		t.Fatalf("%s: %v", step, m.errs)
	}
}

// waitFor waits until the model's list of the mailbox satisfies ok: the
// store's feed tells of the other node's commits as they happen.
func (m *model) waitFor(t *testing.T, id int64, what string, ok func([]uint32) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !ok(m.list(id)) {
		select {
		case <-m.changed:
		case <-deadline:
			t.Fatalf("the feed never told %s: %v", what, m.list(id))
		}
	}
}

// twoNodes opens two Services on one store, as two nodes sharing a
// PostgreSQL database (or two processes on one SQLite file), with alice
// on both; it returns them, alice's account and her INBOX.
func twoNodes(t *testing.T, opts Options) (a, b *Service, account, inbox int64) {
	t.Helper()
	loc := storetest.New(t, pg)
	opts.Domains, opts.BcryptCost = []string{"example.org"}, 4
	open := func() *Service {
		svc, err := New(loc.Open(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b = open(), open()
	ctx := context.Background()
	mustAddUser(t, a, "alice@example.org")
	acct, err := b.Authenticate(ctx, "alice@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	f, err := b.Folder(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return a, b, acct.ID, f.ID
}

// follow runs svc.Follow until the test ends, and reports whether the
// store has a feed to follow.
func follow(t *testing.T, svc *Service) bool {
	if _, ok := svc.db.(store.Feed); !ok {
		return false
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Follow(ctx, nil)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return true
}

func appendOne(t *testing.T, svc *Service, account int64, folder string) uint32 {
	t.Helper()
	_, uid, err := svc.Append(context.Background(), account, folder, []byte("Subject: x\r\n\r\nbody\r\n"), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

// storedUIDs reads a mailbox's UIDs from svc's store directly.
func storedUIDs(t *testing.T, svc *Service, id int64) []uint32 {
	t.Helper()
	snap, err := svc.db.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	uids, err := snap.UIDs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return uids
}

// expungeSet marks the set \Deleted and expunges it, in two writes.
func expungeSet(t *testing.T, svc *Service, account, folder int64, set UIDSet) {
	t.Helper()
	ctx := context.Background()
	if err := svc.StoreFlags(ctx, account, folder, set, FlagsAdd, []string{`\Deleted`}, nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.Expunge(ctx, account, folder, set, nil); err != nil {
		t.Fatal(err)
	}
}

// Two nodes change one mailbox at random: node B's listeners hear of
// every change of either node as steps whose sequence numbers hold, B's
// own changes before its writes return, A's ones through the store's
// feed (PostgreSQL) or B's next locked read (SQLite, where another
// process's commits are not told), and every locked read of B sees
// exactly what was announced.
func TestFollowAnotherNode(t *testing.T) {
	t.Parallel()
	a, b, acct, inbox := twoNodes(t, Options{})
	ctx := context.Background()
	for range 5 {
		appendOne(t, a, acct, "INBOX")
	}
	m := watch(t, b, inbox)
	feed := follow(t, b)

	// A's appends: told by the feed, or by B's next read. The feed
	// listens once it told the first (by its first Resync, or the
	// note), so the second comes through the note.
	for i := range 2 {
		uid := appendOne(t, a, acct, "INBOX")
		if feed {
			m.waitFor(t, inbox, fmt.Sprint("A's append ", i), func(l []uint32) bool { return slices.Contains(l, uid) })
		}
		m.check(t, b, inbox, "after A's append")
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 120 {
		node, name := a, "A"
		if rng.IntN(2) == 0 {
			node, name = b, "B"
		}
		// What is stored, read past the Service (which would catch up).
		stored := storedUIDs(t, b, inbox)
		var what string
		var own func([]uint32) bool // what B's model must show when B's write returns
		switch k := rng.IntN(10); {
		case k < 4 || len(stored) < 3:
			u := appendOne(t, node, acct, "INBOX")
			what = fmt.Sprint("append ", u)
			own = func(l []uint32) bool { return slices.Contains(l, u) }
		case k < 7:
			u := stored[rng.IntN(len(stored))]
			what = fmt.Sprint("flag ", u)
			if err := node.StoreFlags(ctx, acct, inbox, uidSpan(u, u), FlagsAdd, []string{fmt.Sprint("k", step)}, nil); err != nil {
				t.Fatal(err)
			}
		default:
			// Expunge a few, sometimes more than the few a query each
			// numbers (countBelow).
			n := 1 + rng.IntN(3)
			if rng.IntN(4) == 0 {
				n = len(stored) * 2 / 3
			}
			var set UIDSet
			for _, u := range stored[:n] {
				set = append(set, store.UIDRange{Start: u, Stop: u})
			}
			what = fmt.Sprintf("expunge %d", n)
			expungeSet(t, node, acct, inbox, set)
			gone := stored[:n]
			own = func(l []uint32) bool {
				for _, u := range gone {
					if slices.Contains(l, u) {
						return false
					}
				}
				return true
			}
		}
		step := fmt.Sprintf("step %d, %s on %s", step, what, name)
		if node == b && own != nil && !own(m.list(inbox)) {
			t.Fatalf("%s: B's write returned before its change was announced: %v", step, m.list(inbox))
		}
		if rng.IntN(5) == 0 {
			m.check(t, b, inbox, step)
		}
	}
	m.check(t, b, inbox, "at the end")
	if m.lost != 0 {
		t.Errorf("lost the mailbox %d times", m.lost)
	}
}

// When another node expunged more than the mailbox remembers, the change
// can no longer be told step by step: listeners are told ChangeLost and
// start again from their next read.
func TestFollowLostWhenExpungesForgotten(t *testing.T) {
	t.Parallel()
	a, b, acct, inbox := twoNodes(t, Options{VanishedKeep: 2})
	ctx := context.Background()
	for range 6 {
		appendOne(t, a, acct, "INBOX")
	}
	m := watch(t, b, inbox)
	expungeSet(t, a, acct, inbox, uidSpan(1, 5))
	if _, err := a.PruneVanished(ctx); err != nil {
		t.Fatal(err)
	}
	// B reads (or its feed told it): the mailbox is lost to the model.
	if err := b.ReadMailbox(ctx, inbox, nil, func(*Reader) error { return nil }); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	lost, errs := m.lost, m.errs
	m.mu.Unlock()
	if lost != 1 || len(errs) > 0 {
		t.Fatalf("lost %d times (want 1), errors %v", lost, errs)
	}
	m.start(t, b, inbox)
	uid := appendOne(t, a, acct, "INBOX")
	m.check(t, b, inbox, "after starting again")
	if l := m.list(inbox); !slices.Equal(l, []uint32{6, uid}) {
		t.Errorf("UIDs %v, want 6 and %d", l, uid)
	}
}

// A node whose feed lost its connection reads, once it listens again,
// what the other node committed meanwhile: nothing is missed.
func TestFollowResyncsAfterLostFeed(t *testing.T) {
	t.Parallel()
	a, b, acct, inbox := twoNodes(t, Options{})
	pdb, ok := b.db.(*postgres.DB)
	if !ok {
		t.Skip("the store has no feed (run with PILLARBOX_TEST_STORE=postgres)")
	}
	m := watch(t, b, inbox)
	follow(t, b)
	uid := appendOne(t, a, acct, "INBOX")
	m.waitFor(t, inbox, "the first append", func(l []uint32) bool { return slices.Contains(l, uid) })
	// The feed listens now. Cut its connection, and append while it
	// makes a new one (it waits a tenth of a second first).
	var n int
	err := pdb.Pool().QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'pillarbox feed' AND datname = current_database()`).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminated %d feed connections: %v", n, err)
	}
	missed := appendOne(t, a, acct, "INBOX")
	m.waitFor(t, inbox, "the append made while the feed was away", func(l []uint32) bool { return slices.Contains(l, missed) })
	m.check(t, b, inbox, "after the resync")
}
