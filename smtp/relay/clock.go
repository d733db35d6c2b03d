package relay

import "time"

// Clock is the time source of the scheduler: tests drive a fake one to
// run a whole retry schedule without sleeping.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
	// At returns a channel that receives once the clock reaches t (at
	// once if it already has). The scheduler waits for an absolute due
	// time this way: a duration computed from an earlier reading of the
	// clock would come due late if the clock moved in between.
	At(t time.Time) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (realClock) At(t time.Time) <-chan time.Time        { return time.After(time.Until(t)) }
