package mailbox

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"

	"pillarbox/store"
)

// Following the commits of other nodes.
//
// Listeners build state from the changes announced to them: the IMAP
// trackers number messages by them. So the changes announced for a
// mailbox must lead from one stored state to the next, leaving nothing
// out. On one node that holds by construction: each change is announced
// by the commit that makes it, under the mailbox's lock. Nodes that share
// a store (PostgreSQL) also commit changes this node did not make.
//
// So the Service keeps, for each mailbox whose changes it announces, the
// state they led to: HIGHESTMODSEQ and UIDNEXT, its mark. A change this
// node commits is announced as it is only when it follows the mark (it
// has the next MODSEQ, or the same one as the change before it: one
// write). Otherwise another node's commit came between: the change is
// held back, and before the mailbox's next change reaches a listener the
// Service reads from a snapshot what changed between the mark and the
// stored state (the held-back change included) and announces that as
// one step: expunges first, from the highest sequence number down, then
// flag changes, then new messages (catchUpLocked). Three things bring a
// mailbox up to date: the store's feed (another node committed,
// Follow); the write that held a change back, before it returns, so that
// a session's EXPUNGE reports its own expunges (write); and every read
// under the mailbox's lock (ReadMailbox), which must see exactly what was
// announced.
//
// The Service keeps the mark only while some listener keeps state of the
// mailbox (Watcher); a mailbox no one watches is forgotten, and the next
// locked read starts its mark again.

// Watcher is a Listener that says which mailboxes it keeps state of.
// The Service follows other nodes' changes only to those (a Listener
// that is not a Watcher watches every mailbox).
type Watcher interface {
	Watching(mailboxID int64) bool
}

// mailboxState is a mailbox's lock and mark.
type mailboxState struct {
	mu sync.Mutex
	// Guarded by mu.
	known   bool   // modseq and uidnext are what was announced
	behind  bool   // a change was held back: catch up before the next
	modseq  uint64 // HIGHESTMODSEQ after the announced changes
	uidnext uint32 // UIDNEXT after them
}

func (s *Service) state(id int64) *mailboxState {
	if st, ok := s.states.Load(id); ok {
		return st.(*mailboxState)
	}
	st, _ := s.states.LoadOrStore(id, new(mailboxState))
	return st.(*mailboxState)
}

// write is s.db.Write, which then announces the changes it held back.
func (s *Service) write(ctx context.Context, fn func(store.Tx) error) error {
	err := s.db.Write(ctx, fn)
	s.settle(ctx)
	return err
}

// settle catches up the mailboxes with changes held back. A write that
// held one back finds it here, since it leaves the set only once caught
// up (under the mailbox's lock, which this waits for).
func (s *Service) settle(ctx context.Context) {
	s.behindMu.Lock()
	if len(s.behind) == 0 {
		s.behindMu.Unlock()
		return
	}
	ids := make([]int64, 0, len(s.behind))
	for id := range s.behind {
		ids = append(ids, id)
	}
	s.behindMu.Unlock()
	for _, id := range ids {
		s.catchUp(ctx, id, 0)
	}
}

// stepLocked reports whether a committed change of this node follows the
// mailbox's mark, and moves the mark past it; if not, it holds the
// mailbox back. The mailbox's lock is held.
func (s *Service) stepLocked(c Change) bool {
	st := s.state(c.MailboxID)
	if !st.known {
		return true // no listener keeps state of it: nothing to keep in step
	}
	if st.behind || c.ModSeq != st.modseq && c.ModSeq != st.modseq+1 {
		s.holdLocked(c.MailboxID, st)
		return false
	}
	st.modseq = c.ModSeq
	if c.Kind == ChangeAdded {
		st.uidnext = max(st.uidnext, c.UID+1)
	}
	return true
}

// holdLocked marks the mailbox behind, for settle to catch up.
func (s *Service) holdLocked(id int64, st *mailboxState) { s.setBehindLocked(id, st, true) }

// forgetLocked drops the mailbox's mark.
func (s *Service) forgetLocked(id int64, st *mailboxState) {
	st.known = false
	s.setBehindLocked(id, st, false)
}

// setBehindLocked sets st.behind and keeps the set of mailboxes behind
// (settle's) in step with it.
func (s *Service) setBehindLocked(id int64, st *mailboxState, behind bool) {
	st.behind = behind
	s.behindMu.Lock()
	if behind {
		s.behind[id] = struct{}{}
	} else {
		delete(s.behind, id)
	}
	s.behindMu.Unlock()
}

// watched reports whether some listener keeps state of the mailbox.
func (s *Service) watched(id int64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, l := range s.listeners {
		if w, ok := l.(Watcher); !ok || w.Watching(id) {
			return true
		}
	}
	return false
}

// catchUp announces what other nodes committed to the mailbox since its
// mark, if it is behind, or if modseq (what the store's feed told) is
// above the mark or 0 (the mailbox may be gone). A failed read leaves
// the mailbox held back, for the next write or locked read.
func (s *Service) catchUp(ctx context.Context, id int64, modseq uint64) {
	v, ok := s.states.Load(id)
	if !ok {
		return
	}
	st := v.(*mailboxState)
	st.mu.Lock()
	need := st.known && (st.behind || modseq == 0 || modseq > st.modseq)
	if need && !s.watched(id) {
		s.forgetLocked(id, st)
		need = false
	}
	st.mu.Unlock()
	if !need {
		return
	}
	// The snapshot is opened before the lock and read under it, as in
	// ReadMailbox: waiting for a connection while holding the lock could
	// wait for a reader that waits for the lock.
	snap, err := s.db.Snapshot(ctx)
	if err != nil {
		st.mu.Lock()
		if st.known {
			s.holdLocked(id, st) // for the next write or locked read
		}
		st.mu.Unlock()
		if ctx.Err() == nil {
			s.log.Warn("mailbox: cannot read other nodes' changes", "mailbox", id, "err", err)
		}
		return
	}
	defer snap.Close()
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.known {
		return
	}
	m, counts, err := snap.Mailbox(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// Another node deleted it. (Its account and name are gone with
		// it: NOTIFY's MailboxName, which wants them, hears nothing.)
		s.forgetLocked(id, st)
		s.tell(Change{Kind: ChangeFolderDeleted, MailboxID: id})
		return
	}
	if err == nil {
		err = s.catchUpLocked(ctx, snap, st, m, counts)
	}
	if err != nil {
		s.holdLocked(id, st)
		if ctx.Err() == nil {
			s.log.Warn("mailbox: cannot read other nodes' changes", "mailbox", id, "err", err)
		}
	}
}

// syncLocked makes the announced state that of the snapshot, which a
// locked read took: it starts the mark, or catches up to the snapshot.
func (s *Service) syncLocked(ctx context.Context, snap store.Snapshot, m store.Mailbox, counts store.MailboxCounts) error {
	st := s.state(m.ID)
	if !st.known {
		st.known, st.modseq, st.uidnext = true, m.HighestModSeq, m.UIDNext
		return nil
	}
	if !st.behind && st.modseq == m.HighestModSeq {
		return nil
	}
	return s.catchUpLocked(ctx, snap, st, m, counts)
}

// catchUpLocked announces the changes between the mark and m, the
// mailbox as the snapshot has it, as one step, and moves the mark to m.
// The mailbox's lock is held, so nothing of this node commits to it
// meanwhile, and what the snapshot holds includes every change
// announced.
func (s *Service) catchUpLocked(ctx context.Context, snap store.Snapshot, st *mailboxState, m store.Mailbox, counts store.MailboxCounts) error {
	id := m.ID
	done := func() {
		st.known, st.modseq, st.uidnext = true, m.HighestModSeq, m.UIDNext
		s.setBehindLocked(id, st, false)
	}
	if m.HighestModSeq == st.modseq {
		done()
		return nil
	}
	ranges, exceeded, err := snap.VanishedSince(ctx, id, st.modseq)
	if err != nil {
		return err
	}
	if exceeded || m.HighestModSeq < st.modseq || m.UIDNext < st.uidnext {
		// The mailbox forgot expunges the listeners have not heard of.
		s.tell(Change{Kind: ChangeLost, MailboxID: id})
		done()
		return nil
	}
	var gone []uint32 // expunged messages the listeners know, ascending
	for _, r := range ranges {
		for u := r.Start; u <= r.Stop && u < st.uidnext; u++ {
			gone = append(gone, u)
		}
	}
	var flagged, added []store.Changed
	err = snap.ChangedSince(ctx, id, st.modseq, 1, math.MaxUint32, func(c store.Changed) error {
		if c.UID < st.uidnext {
			flagged = append(flagged, c)
		} else {
			added = append(added, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	below, err := countBelow(ctx, snap, id, counts.Messages, len(gone)+len(flagged))
	if err != nil {
		return err
	}
	// What the listeners know is the stored messages below the mark's
	// UIDNEXT plus gone: a message's number there is the stored ones
	// below it plus the gone ones below it. Taken from the highest down,
	// each number holds when it is applied.
	changes := make([]Change, 0, len(gone)+len(flagged)+len(added))
	for i := len(gone) - 1; i >= 0; i-- {
		n, err := below(gone[i])
		if err != nil {
			return err
		}
		changes = append(changes, Change{Kind: ChangeExpunged, MailboxID: id, UID: gone[i], Seq: n + uint32(i) + 1, ModSeq: m.HighestModSeq})
	}
	for _, c := range flagged {
		n, err := below(c.UID)
		if err != nil {
			return err
		}
		changes = append(changes, Change{Kind: ChangeFlags, MailboxID: id, UID: c.UID, Seq: n + 1, ModSeq: c.ModSeq,
			Flags: flagNames(c.Flags, c.Keywords)})
	}
	for _, c := range added {
		changes = append(changes, Change{Kind: ChangeAdded, MailboxID: id, UID: c.UID, ModSeq: c.ModSeq, Flags: c.Keywords})
	}
	for _, c := range changes {
		s.tell(c)
	}
	done()
	return nil
}

// countBelow returns a function giving how many of the snapshot's
// messages have a UID below a given one: a query each for a few, all the
// UIDs read once for more.
func countBelow(ctx context.Context, snap store.Snapshot, id int64, total uint32, n int) (func(uint32) (uint32, error), error) {
	if n <= 16 {
		return func(uid uint32) (uint32, error) { return snap.CountBelow(ctx, id, uid, total) }, nil
	}
	uids, err := snap.UIDs(ctx, id)
	if err != nil {
		return nil, err
	}
	return func(uid uint32) (uint32, error) {
		i, _ := slices.BinarySearch(uids, uid)
		return uint32(i), nil
	}, nil
}

// Follow keeps this node's listeners in step with the commits of the
// other nodes that share the store, and calls queue, if not nil, when
// any node changed the relay queue (and after the feed reconnected). It
// returns when ctx ends, at once if the store has no other writers.
func (s *Service) Follow(ctx context.Context, queue func()) error {
	feed, ok := s.db.(store.Feed)
	if !ok {
		return nil
	}
	return feed.Follow(ctx, store.FeedFuncs{
		Mailbox: func(id int64, modseq uint64) { s.catchUp(ctx, id, modseq) },
		Queue:   queue,
		Resync: func() {
			// Whatever was missed: every followed mailbox is read again.
			var ids []int64
			s.states.Range(func(k, _ any) bool {
				ids = append(ids, k.(int64))
				return true
			})
			for _, id := range ids {
				s.catchUp(ctx, id, 0)
			}
			if queue != nil {
				queue()
			}
		},
	})
}

// Track makes the Service follow other nodes' changes to the given
// mailboxes from now on, for a listener that watches them without
// reading them under their lock first (IMAP NOTIFY): it starts their
// marks. Mailboxes that are gone are left out. With a store no other
// node writes to, there is nothing to follow.
func (s *Service) Track(ctx context.Context, ids []int64) error {
	if _, ok := s.db.(store.Feed); !ok {
		return nil
	}
	for _, id := range ids {
		err := s.ReadMailbox(ctx, id, nil, func(*Reader) error { return nil })
		if err != nil && !errors.Is(err, ErrNoSuchFolder) {
			return err
		}
	}
	return nil
}
