package mailbox

import "sync"

// The cache of decoded envelopes and structures is bounded by the size of
// what it decoded, not by its number of entries: a message of 10 KB can
// hold a thousand empty parts, 100 KB of stored structure and some
// 600 KB once decoded (about six times the stored size).
const (
	metaCacheBudget   = 4 << 20  // octets of stored envelope and structure, both generations
	metaCacheMaxEntry = 64 << 10 // a larger one is decoded each time instead
)

// metaCache keeps the decoded envelope and structure of the stored
// messages read last, by blob id: mail apps fetch the ENVELOPE and
// BODYSTRUCTURE of the newest messages each time they connect, and a
// blob never changes and its id is never reused, so an entry never goes
// stale. It has two generations: a lookup moves an entry of the older
// one to the newer, and when the newer holds half the budget the older
// is dropped whole.
type metaCache struct {
	mu       sync.Mutex
	budget   int
	cur, old map[int64]meta
	weight   int // of cur
}

// meta is one blob's decoded envelope and structure, shared by every
// reader: nobody may change them. weight is their stored size.
type meta struct {
	env    *Envelope
	st     *Part
	weight int
}

func newMetaCache(budget int) *metaCache {
	return &metaCache{budget: budget, cur: make(map[int64]meta)}
}

func (c *metaCache) get(blob int64) (meta, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.cur[blob]; ok {
		return m, true
	}
	m, ok := c.old[blob]
	if ok {
		delete(c.old, blob)
		c.putLocked(blob, m)
	}
	return m, ok
}

// put keeps m unless it weighs more than metaCacheMaxEntry.
func (c *metaCache) put(blob int64, m meta) {
	if m.weight > metaCacheMaxEntry {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(blob, m)
}

func (c *metaCache) putLocked(blob int64, m meta) {
	if c.weight+m.weight > c.budget/2 {
		c.old, c.cur, c.weight = c.cur, make(map[int64]meta), 0
	}
	c.cur[blob] = m
	c.weight += m.weight
}
