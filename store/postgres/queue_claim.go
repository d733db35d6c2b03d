package postgres

import (
	"fmt"
	"sync"
	"time"

	"pillarbox/store"
)

// Claims across nodes. The relay reads due items (DueDomainQueueItems)
// outside any transaction, plans its jobs, and then claims the planned
// items in one write (ClaimQueueItem for each), which moves each item's
// next attempt to the end of a lease. On one node its in-flight set keeps
// it from claiming an item twice; across nodes, two relays may read the
// same due item before either claims it. ClaimQueueItem has no "now" to
// tell whether the item is still due (its signature is the SQLite
// store's), and the database's clock is not the relay's (tests run it on
// a fake clock), so the claim is a compare-and-swap instead: it succeeds
// only if the item is still as this node last read it as due (same
// next_attempt and attempts, still queued). Another node's claim in the
// meantime has moved both, so the second claim finds the item changed
// and is refused with ErrNotFound, which the relay treats as "gone" and
// drops from the job. A node that dies mid-attempt leaves its items at
// the lease's end; they come due there and any node reads and claims
// them then.
//
// The row is taken with FOR UPDATE SKIP LOCKED: a row locked by another
// transaction is being claimed or finished by someone else, and waiting
// for it would stall this node's writer (every write of the node shares
// its transaction), so the claim is refused at once instead.
//
// An item this node has not read as due (an operator's tool, a test)
// is claimed unconditionally, as the SQLite store does.

// queueReadsCap bounds each of the two generations of remembered reads.
// A relay claims what it read moments before, so an entry only has to
// outlive the reads of one scheduling round; old entries (items read and
// not claimed, or since removed) go with their generation.
const queueReadsCap = 1 << 17

// queueSeen is an item as a due read returned it.
type queueSeen struct {
	next     int64 // milliseconds
	attempts int
}

// queueReads remembers, per node (*DB), the items its due reads returned.
type queueReads struct {
	mu       sync.Mutex
	cur, old map[int64]queueSeen
}

func newQueueReads() *queueReads { return &queueReads{cur: make(map[int64]queueSeen)} }

// remember records the items a due read returned.
func (r *queueReads) remember(items []store.QueueItem) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range items {
		if len(r.cur) >= queueReadsCap {
			r.old, r.cur = r.cur, make(map[int64]queueSeen)
		}
		r.cur[it.ID] = queueSeen{next: it.NextAttempt.UnixMilli(), attempts: it.Attempts}
	}
}

// seen returns the item as this node last read it as due.
func (r *queueReads) seen(id int64) (queueSeen, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.cur[id]; ok {
		return s, true
	}
	s, ok := r.old[id]
	return s, ok
}

// ClaimQueueItem records that an attempt starts: attempts grows by one
// and next_attempt moves to next (the lease's end), so that an attempt
// that never reports back (the node died) is retried at next like a
// deferral, by any node. An item that has gone, or that this node read
// as due and that has changed since (another node claimed it) or is
// locked by another transaction, is not claimed: ErrNotFound.
func (tx *Tx) ClaimQueueItem(id int64, next time.Time) error {
	seen, ok := tx.db.reads.seen(id)
	if !ok {
		tag, err := tx.exec(`UPDATE queue SET attempts = attempts + 1, next_attempt = $1 WHERE id = $2`, next.UnixMilli(), id)
		if err != nil {
			return fmt.Errorf("store: claim queue item %d: %w", id, err)
		}
		return queueAffected(tag, id)
	}
	tag, err := tx.exec(`UPDATE queue SET attempts = attempts + 1, next_attempt = $1
		WHERE id = (SELECT id FROM queue WHERE id = $2 AND state = 'queued' AND next_attempt = $3 AND attempts = $4
			FOR UPDATE SKIP LOCKED)`, next.UnixMilli(), id, seen.next, seen.attempts)
	if err != nil {
		return fmt.Errorf("store: claim queue item %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: claim queue item %d: gone, or changed since it was read as due: %w", id, store.ErrNotFound)
	}
	return nil
}

// RenewQueueLease implements store.Tx: the claim's attempt count and
// lease are its token, so a node renews only a claim that is still its
// own, never one another node made since.
func (tx *Tx) RenewQueueLease(id int64, attempts int, from, to time.Time) error {
	tag, err := tx.exec(`UPDATE queue SET next_attempt = $1 WHERE id = $2 AND state = 'queued' AND attempts = $3 AND next_attempt = $4`,
		to.UnixMilli(), id, attempts, from.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: renew lease of queue item %d: %w", id, err)
	}
	return queueAffected(tag, id)
}
