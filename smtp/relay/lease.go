package relay

import (
	"context"
	"sync/atomic"
	"time"

	"pillarbox/mailbox"
)

// Leases. Claiming an item moves its next attempt to the end of a lease
// (Schedule.Lease): if the node dies, any node retries the item then.
// An attempt may outlast its lease (a slow server is given minutes per
// reply), and nodes that share the queue must not take an item whose
// attempt still runs: so while a job runs, its node renews the leases
// of the items it has not finished, every third of a lease. A renewal
// names the claim it renews (the attempt count and the lease as the
// claim or the last renewal left them), so it never takes back an item
// that another node claimed after this node stopped renewing (it was
// cut off from the database for a whole lease).

// heldLease is one item of a job and its lease.
type heldLease struct {
	group    int // the item's group in the job
	id       int64
	attempts int
	until    time.Time     // the lease's end as the store has it
	length   time.Duration // how long a renewal makes it
	lost     bool          // a renewal found the claim no longer in force
}

func heldLeases(j *job, s Schedule) []heldLease {
	var out []heldLease
	for i, g := range j.groups {
		for _, it := range g.items {
			out = append(out, heldLease{group: i, id: it.ID, attempts: it.Attempts, until: it.NextAttempt,
				length: s.step(it.BackoffStep())})
		}
	}
	return out
}

// keepLeases renews the leases of the job's items not yet finished (those
// of the groups from at on) until stop is closed.
func (r *Runner) keepLeases(ctx context.Context, leases []heldLease, at *atomic.Int32, stop <-chan struct{}) {
	if len(leases) == 0 {
		return
	}
	shortest := leases[0].length
	for _, l := range leases {
		shortest = min(shortest, l.length)
	}
	var retry time.Time // after a failed renewal, not before this
	for {
		// Once a third of the shortest lease has passed: at an absolute
		// time, which a clock that moved past it meanwhile has reached.
		var next time.Time
		tried := int(at.Load())
		for _, l := range leases {
			if at := l.until.Add(-2 * l.length / 3); l.group >= tried && !l.lost && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
		if next.IsZero() {
			return
		}
		if next.Before(retry) {
			next = retry
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-r.opts.Clock.At(next):
		}
		now := r.opts.Clock.Now()
		from := int(at.Load())
		var ask []mailbox.QueueLease
		for _, l := range leases {
			if l.group >= from && !l.lost {
				ask = append(ask, mailbox.QueueLease{ID: l.id, Attempts: l.attempts, From: l.until, To: now.Add(l.length)})
			}
		}
		if len(ask) == 0 {
			return
		}
		renewed, err := r.svc.RenewQueueLeases(ctx, ask)
		if err != nil {
			// Again in a tenth of a lease, while the lease still holds:
			// a store that fails now fails at once for a while.
			retry = now.Add(shortest / 10)
			r.log.Warn("relay: renewing the leases of running attempts", "err", err, "retry_at", retry)
			if r.opts.renewFailed != nil {
				r.opts.renewFailed(retry)
			}
			continue
		}
		ok := make(map[int64]bool, len(renewed))
		for _, id := range renewed {
			ok[id] = true
		}
		done := int(at.Load()) // groups before it may have been recorded meanwhile
		for i := range leases {
			l := &leases[i]
			switch {
			case l.group < from || l.lost:
			case ok[l.id]:
				l.until = now.Add(l.length)
			case l.group >= done:
				l.lost = true
				r.log.Warn("relay: lost the lease of a running attempt: another node may try it too", "queue_id", l.id)
			}
		}
		if r.opts.renewed != nil {
			r.opts.renewed(renewed)
		}
	}
}
