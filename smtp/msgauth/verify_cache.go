package msgauth

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// verifyCache keeps DNS answers for a short time. Go's resolver caches
// nothing, and every message from a sender asks the same SPF, DMARC and
// DKIM key records again: without a cache the checks cost an MX under
// load a quarter of its throughput. Answers and "no such name" are kept;
// temporary failures are not, so that the next message asks again.
type verifyCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[verifyCacheKey]verifyCacheEntry
}

type verifyCacheKey struct{ kind, name string }

type verifyCacheEntry struct {
	val     any
	err     error
	expires time.Time
}

// verifyCacheMax bounds the entries; past it the cache starts over, which
// is simple and enough for a small host's senders.
const verifyCacheMax = 8192

// lookupCached answers from the cache or calls look and keeps its answer.
func lookupCached[T any](c *verifyCache, ctx context.Context, kind, name string, look func(context.Context, string) (T, error)) (T, error) {
	if c == nil || c.ttl <= 0 {
		return look(ctx, name)
	}
	k := verifyCacheKey{kind, name}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		v, _ := e.val.(T)
		return v, e.err
	}
	v, err := look(ctx, name)
	var de *net.DNSError
	if err == nil || errors.As(err, &de) && de.IsNotFound {
		c.mu.Lock()
		if len(c.entries) >= verifyCacheMax {
			clear(c.entries)
		}
		c.entries[k] = verifyCacheEntry{val: v, err: err, expires: now.Add(c.ttl)}
		c.mu.Unlock()
	}
	return v, err
}
