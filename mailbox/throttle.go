package mailbox

import (
	"sync"
	"time"
)

// Throttle slows down repeated failed logins from one source (an IP
// address): after the first failure each further attempt waits twice as
// long as the last, up to a maximum, and a quiet period forgets the
// source. Both IMAP and submission use one per process.
type Throttle struct {
	base, max, forget time.Duration
	now               func() time.Time

	mu      sync.Mutex
	sources map[string]*throttleState
}

type throttleState struct {
	failures int
	last     time.Time
}

// ThrottleOptions configures NewThrottle. Zero values: Base 250ms,
// Max 8s, Forget 15min, Now time.Now.
type ThrottleOptions struct {
	Base, Max, Forget time.Duration
	Now               func() time.Time
}

// NewThrottle returns an empty Throttle.
func NewThrottle(o ThrottleOptions) *Throttle {
	t := &Throttle{base: o.Base, max: o.Max, forget: o.Forget, now: o.Now, sources: make(map[string]*throttleState)}
	if t.base <= 0 {
		t.base = 250 * time.Millisecond
	}
	if t.max <= 0 {
		t.max = 8 * time.Second
	}
	if t.forget <= 0 {
		t.forget = 15 * time.Minute
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t
}

// Delay is how long the next failure answer for source should be held
// back: zero for a source without recent failures.
func (t *Throttle) Delay(source string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.live(source)
	if st == nil || st.failures == 0 {
		return 0
	}
	d := t.base << min(st.failures-1, 30)
	if d > t.max || d <= 0 {
		d = t.max
	}
	return d
}

// Fail records a failed attempt from source.
func (t *Throttle) Fail(source string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.live(source)
	if st == nil {
		st = &throttleState{}
		t.sources[source] = st
	}
	st.failures++
	st.last = t.now()
	if len(t.sources) > 100_000 {
		t.pruneLocked()
	}
}

// Succeed forgets source's failures.
func (t *Throttle) Succeed(source string) {
	t.mu.Lock()
	delete(t.sources, source)
	t.mu.Unlock()
}

func (t *Throttle) live(source string) *throttleState {
	st := t.sources[source]
	if st != nil && t.now().Sub(st.last) > t.forget {
		delete(t.sources, source)
		return nil
	}
	return st
}

func (t *Throttle) pruneLocked() {
	now := t.now()
	for k, st := range t.sources {
		if now.Sub(st.last) > t.forget {
			delete(t.sources, k)
		}
	}
}
