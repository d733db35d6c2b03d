package mailbox

import "sync"

// metaCacheMax bounds the cache of decoded envelopes and structures: a
// few kilobytes each, some 20 MB at most for plain messages.
const metaCacheMax = 8192

// metaCache keeps the decoded envelope and structure of the stored
// messages read last, by blob id: mail apps fetch the ENVELOPE and
// BODYSTRUCTURE of the newest messages each time they connect, and a
// blob never changes, so an entry never goes stale. It holds between
// max/2 and max entries in two generations: a lookup moves an entry of
// the older one to the newer, and when the newer is full the older is
// dropped whole.
type metaCache struct {
	mu       sync.Mutex
	max      int
	cur, old map[int64]meta
}

// meta is one blob's decoded envelope and structure, shared by every
// reader: nobody may change them.
type meta struct {
	env *Envelope
	st  *Part
}

func newMetaCache(max int) *metaCache {
	return &metaCache{max: max, cur: make(map[int64]meta)}
}

func (c *metaCache) get(blob int64) (meta, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.cur[blob]; ok {
		return m, true
	}
	m, ok := c.old[blob]
	if ok {
		c.putLocked(blob, m)
	}
	return m, ok
}

func (c *metaCache) put(blob int64, m meta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(blob, m)
}

func (c *metaCache) putLocked(blob int64, m meta) {
	if len(c.cur) >= c.max/2 {
		c.old, c.cur = c.cur, make(map[int64]meta, c.max/2)
	}
	c.cur[blob] = m
}
