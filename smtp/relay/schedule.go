package relay

import "time"

// Schedule is the retry policy of the queue: when a deferred item is
// tried again, when its sender is warned of the delay, and when it gives
// up. It is a value with pure methods, so the whole policy is tested by
// a table of times.
type Schedule struct {
	// Retry is the wait after each deferred attempt: after attempt n the
	// wait is Retry[n-1], and the last step repeats. Must not be empty.
	Retry []time.Duration
	// MaxAge is how long after queueing an item is tried at all: the last
	// attempt happens at Created+MaxAge at the latest, and a deferral at
	// or after that time fails the item for good.
	MaxAge time.Duration
	// DelayWarning, when positive, is the age at which the sender is told
	// once that the message is still undelivered; the schedule places an
	// attempt exactly at that age so that the warning is not late.
	DelayWarning time.Duration
}

// step is the wait after the attempts-th attempt (counting from 1).
func (s Schedule) step(attempts int) time.Duration {
	i := min(max(attempts, 1), len(s.Retry)) - 1
	return s.Retry[i]
}

// Next returns when to try again an item queued at created whose
// attempts-th attempt was deferred at now. expired is true when the item
// must fail instead: it has reached MaxAge.
func (s Schedule) Next(created, now time.Time, attempts int) (next time.Time, expired bool) {
	deadline := created.Add(s.MaxAge)
	if !now.Before(deadline) {
		return time.Time{}, true
	}
	next = now.Add(s.step(attempts))
	if s.DelayWarning > 0 {
		if w := created.Add(s.DelayWarning); now.Before(w) && next.After(w) {
			next = w
		}
	}
	if next.After(deadline) {
		next = deadline
	}
	return next, false
}

// Warn reports whether a deferral at now of an item queued at created
// should warn its sender (if that has not happened yet).
func (s Schedule) Warn(created, now time.Time) bool {
	return s.DelayWarning > 0 && !now.Before(created.Add(s.DelayWarning))
}

// Lease is when an item whose attempts-th attempt starts at now is due
// again if that attempt never reports back, because the process died: as
// if it had been deferred, without the clamping of Next.
func (s Schedule) Lease(now time.Time, attempts int) time.Time {
	return now.Add(s.step(attempts))
}
