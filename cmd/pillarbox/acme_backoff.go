package main

import (
	"sync"
	"time"
)

// nameBackoff spaces out the certificate orders that clients can cause
// for the names beside the hostname (mta-sts., autoconfig. and
// autodiscover. under each domain). Any client can ask for one of them
// in its TLS hello; when the name's DNS does not point here, each order
// fails at the CA, and autocert would order again a minute later,
// spending the CA's limits on failed validations and new orders, which
// the hostname's renewal shares. After a failure a name is not ordered
// again for an hour, doubling up to a day; a success forgets it. The
// names are the policy's, so the map stays small.
type nameBackoff struct {
	now func() time.Time

	mu    sync.Mutex
	until map[string]time.Time
	wait  map[string]time.Duration
}

// Bounds of nameBackoff's waits.
const (
	nameBackoffMin = time.Hour
	nameBackoffMax = 24 * time.Hour
)

func newNameBackoff(now func() time.Time) *nameBackoff {
	return &nameBackoff{now: now, until: map[string]time.Time{}, wait: map[string]time.Duration{}}
}

// allowed reports whether name may be ordered now.
func (b *nameBackoff) allowed(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.now().Before(b.until[name])
}

// failed records a failed order for name and returns how long it now
// waits.
func (b *nameBackoff) failed(name string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := min(max(2*b.wait[name], nameBackoffMin), nameBackoffMax)
	b.wait[name] = w
	b.until[name] = b.now().Add(w)
	return w
}

// succeeded forgets name's failures.
func (b *nameBackoff) succeeded(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.wait, name)
	delete(b.until, name)
}
