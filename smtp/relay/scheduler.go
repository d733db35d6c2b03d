package relay

// The scheduler decides which due items start an attempt, and when.
//
// Whenever a connection slot is free it walks the destination domains
// that have queued mail, in byte order and round-robin from the domain
// it served last (as Postfix's queue manager serves its destinations in
// turn), and gives each due domain up to its share of the free slots,
// each with a batch of that domain's earliest due items. Every step is
// one index seek (store's queue_domain_due), so starting a connection
// costs the same whatever the size of the queue: no round reads more
// than a few jobs' worth of items, and a large backlog for one domain,
// queued first, neither hides the other domains nor leaves slots idle.

import (
	"context"
	"sync"
	"time"

	"pillarbox/mailbox"
)

const (
	// maxGroupsPerJob bounds the messages one connection takes: then it
	// ends and its slot goes to the next domain in turn, so that one
	// domain's backlog cannot keep a connection for ever.
	maxGroupsPerJob = 20
	// maxItemsPerJob bounds the items (one per recipient) read for one
	// connection.
	maxItemsPerJob = 100
	// maxRcptsPerTransaction: a message with more recipients in one
	// domain is sent in several transactions, since a server need
	// accept no more than 100 in one (RFC 5321 4.5.3.1.8).
	maxRcptsPerTransaction = 100
)

// domainLoad is what runs for one destination domain.
type domainLoad struct {
	conns int // connections (jobs)
	items int // queue items in those jobs
}

// round starts the attempts that are due and returns the channel that
// says when the next one is; a job that ends also starts a round.
func (r *Runner) round(ctx context.Context, wg *sync.WaitGroup) <-chan time.Time {
	now := r.opts.Clock.Now()
	if err := r.fillSlots(ctx, now, wg); err != nil {
		if ctx.Err() == nil {
			r.log.Error("relay: scheduling the queue", "err", err)
		}
		return r.opts.Clock.After(errorBackoff)
	}
	// Whether anything is in flight is read before the next due time: an
	// attempt still running may yet move that time, and will start another
	// round when it ends.
	r.mu.Lock()
	idle := r.total == 0
	r.mu.Unlock()
	next, ok, err := r.svc.NextQueueAttempt(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("relay: reading the queue", "err", err)
		}
		return r.opts.Clock.After(errorBackoff)
	}
	var wake <-chan time.Time
	if ok {
		// The exact due time, to the millisecond: the clock's timer, not
		// a poll, so that a retry step is never cut short or stretched.
		wake = r.opts.Clock.At(next)
	}
	if idle && r.opts.OnIdle != nil {
		r.opts.OnIdle(next)
	}
	return wake
}

// fillSlots walks the domains once, from the one after r.cursor round to
// it, and starts jobs for the due ones until no connection slot is free.
// What it leaves waits for the next round, which the end of any job
// starts.
func (r *Runner) fillSlots(ctx context.Context, now time.Time, wg *sync.WaitGroup) error {
	if r.freeSlots() == 0 {
		return nil
	}
	// One seek tells whether anything is due at all, so that an idle
	// queue of many deferred domains is not walked on every wake-up.
	due, err := r.svc.DueQueueItems(ctx, now, 1)
	if err != nil || len(due) == 0 {
		return err
	}
	var jobs []*job
	start := r.cursor
	after, wrapped := start, false
	for r.freeSlots() > 0 {
		dom, first, ok, err := r.svc.NextQueueDomain(ctx, after)
		if err != nil {
			r.unplan(jobs)
			return err
		}
		if !ok {
			if wrapped || start == "" {
				break
			}
			// Second lap: from the first domain up to where this walk
			// started, that one included.
			after, wrapped = "", true
			continue
		}
		if wrapped && dom > start {
			break
		}
		after = dom
		if first.After(now) {
			continue
		}
		js, err := r.planDomain(ctx, now, dom)
		if err != nil {
			r.unplan(jobs)
			return err
		}
		if len(js) > 0 {
			jobs = append(jobs, js...)
			r.cursor = dom
		}
	}
	return r.claimAndStart(ctx, now, jobs, wg)
}

func (r *Runner) freeSlots() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opts.MaxConnections - r.total
}

// planDomain reads the earliest due items of one domain, as many as the
// connections it may still open can take, and makes them into jobs,
// counted as running from now on so that the walk sees the slots taken.
func (r *Runner) planDomain(ctx context.Context, now time.Time, dom string) ([]*job, error) {
	r.mu.Lock()
	load := r.load[dom]
	n := min(r.opts.PerDomain-load.conns, r.opts.MaxConnections-r.total)
	r.mu.Unlock()
	if n <= 0 {
		return nil, nil // waits for one of its connections to end
	}
	// Items in flight whose lease ran out while their attempt still runs
	// are due again and come first: read past them.
	items, err := r.svc.DueDomainQueueItems(ctx, dom, now, load.items+n*maxItemsPerJob)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	groups := r.groupLocked(items)
	groups = groups[:min(len(groups), n*maxGroupsPerJob)]
	n = min(n, len(groups))
	jobs := make([]*job, n)
	for i := range jobs {
		jobs[i] = &job{domain: dom}
	}
	// Spread the messages over the connections, so that each gets its
	// share and they end at about the same time.
	for i, g := range groups {
		j := jobs[i%n]
		j.groups = append(j.groups, g)
		for _, it := range g.items {
			r.inflight[it.ID] = true
		}
		load.items += len(g.items)
	}
	load.conns += n
	r.load[dom] = load
	r.total += n
	return jobs, nil
}

// groupLocked groups the items that are not in flight by message and
// sender: each group is one SMTP transaction.
func (r *Runner) groupLocked(items []mailbox.QueueItem) []*group {
	var groups []*group
	byBlob := make(map[int64]*group)
	for _, it := range items {
		if r.inflight[it.ID] {
			continue
		}
		g := byBlob[it.BlobID]
		if g == nil || g.sender() != it.Sender || len(g.items) >= maxRcptsPerTransaction {
			g = &group{}
			byBlob[it.BlobID] = g
			groups = append(groups, g)
		}
		g.items = append(g.items, it)
	}
	return groups
}

// claimAndStart claims the planned jobs' items in one transaction, which
// moves each one's next attempt to its lease (so that an attempt that
// never reports back, because the process died, is retried like a
// deferral), and starts the jobs. Items deleted in the meantime are
// dropped.
func (r *Runner) claimAndStart(ctx context.Context, now time.Time, jobs []*job, wg *sync.WaitGroup) error {
	if len(jobs) == 0 {
		return nil
	}
	var claims []mailbox.QueueClaim
	lease := make(map[int64]time.Time)
	for _, j := range jobs {
		for _, g := range j.groups {
			for _, it := range g.items {
				lease[it.ID] = r.opts.Schedule.Lease(now, it.BackoffStep()+1)
				claims = append(claims, mailbox.QueueClaim{ID: it.ID, Next: lease[it.ID]})
			}
		}
	}
	claimed, err := r.svc.ClaimQueueItems(ctx, claims)
	if err != nil {
		r.unplan(jobs)
		return err
	}
	ok := make(map[int64]bool, len(claimed))
	for _, id := range claimed {
		ok[id] = true
	}
	r.mu.Lock()
	for _, j := range jobs {
		for _, g := range j.groups {
			kept := g.items[:0]
			for _, it := range g.items {
				if ok[it.ID] {
					// As the claim left it: the token keepLeases renews.
					it.Attempts++
					it.NextAttempt = lease[it.ID]
					kept = append(kept, it)
				} else {
					r.dropLocked(j.domain, it.ID) // gone (deleted) before the claim
				}
			}
			g.items = kept
		}
	}
	r.mu.Unlock()
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.release(j)
			r.runJob(ctx, j)
		}()
	}
	return nil
}

// release ends a job: its items and its connection slot are free again,
// and the scheduler looks at the queue.
func (r *Runner) release(j *job) {
	r.unplan([]*job{j})
	signal(r.done)
}

// unplan undoes planDomain for jobs that end or never start.
func (r *Runner) unplan(jobs []*job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range jobs {
		for _, g := range j.groups {
			for _, it := range g.items {
				r.dropLocked(j.domain, it.ID)
			}
		}
		load := r.load[j.domain]
		load.conns--
		r.total--
		if load.conns == 0 {
			delete(r.load, j.domain)
		} else {
			r.load[j.domain] = load
		}
	}
}

// dropLocked forgets one item of a job for domain.
func (r *Runner) dropLocked(domain string, id int64) {
	if !r.inflight[id] {
		return
	}
	delete(r.inflight, id)
	load := r.load[domain]
	load.items--
	r.load[domain] = load
}
