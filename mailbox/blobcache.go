package mailbox

import "sync"

// The caches of what was read of stored messages are bounded by the
// stored size of what they hold, not by their number of entries: a
// message of 10 KB can hold a thousand empty parts, 100 KB of stored
// structure and some 600 KB once decoded (about six times the stored
// size).
const (
	metaCacheBudget   = 4 << 20  // octets of stored envelope and structure, both generations
	metaCacheMaxEntry = 64 << 10 // a larger one is decoded each time instead

	bodyCacheBudget   = 16 << 20  // octets of messages, both generations
	bodyCacheMaxEntry = 256 << 10 // a larger message is read from the store each time

	// entryCost is added to each entry's weight for the map and the
	// slice or pointers that hold it: a million one-octet messages
	// must not pass for a megabyte.
	entryCost = 128
)

// blobCache keeps what was read last of stored messages, by blob id: mail
// apps fetch the ENVELOPE and BODYSTRUCTURE of the newest messages each
// time they connect, and often read a message they just listed; and a
// blob never changes and its id is never reused, so an entry never goes
// stale. It has two generations: a lookup moves an entry of the older one
// to the newer, and when the newer holds half the budget the older is
// dropped whole. What it holds is shared by every reader: nobody may
// change it.
type blobCache[V any] struct {
	mu       sync.Mutex
	budget   int
	maxEntry int
	cur, old map[int64]weighed[V]
	weight   int // of cur
}

type weighed[V any] struct {
	v      V
	weight int
}

func newBlobCache[V any](budget, maxEntry int) *blobCache[V] {
	return &blobCache[V]{budget: budget, maxEntry: maxEntry, cur: make(map[int64]weighed[V])}
}

func (c *blobCache[V]) get(blob int64) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cur[blob]; ok {
		return e.v, true
	}
	e, ok := c.old[blob]
	if ok {
		delete(c.old, blob)
		c.putLocked(blob, e)
	}
	return e.v, ok
}

// put keeps v, whose stored size is weight, unless that is over the
// cache's largest entry.
func (c *blobCache[V]) put(blob int64, v V, weight int) {
	if weight > c.maxEntry {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(blob, weighed[V]{v, weight + entryCost})
}

func (c *blobCache[V]) putLocked(blob int64, e weighed[V]) {
	if had, ok := c.cur[blob]; ok {
		c.weight -= had.weight // kept again: counted once
	}
	if c.weight+e.weight > c.budget/2 {
		c.old, c.cur, c.weight = c.cur, make(map[int64]weighed[V]), 0
	}
	c.cur[blob] = e
	c.weight += e.weight
}

// meta is one blob's decoded envelope and structure; or, kept when the
// message was stored (keepStored), the JSON stored for them, which the
// first read that wants them decodes (lookupMeta).
type meta struct {
	env             *Envelope
	st              *Part
	envJSON, stJSON []byte
}

func newMetaCache() *blobCache[meta] { return newBlobCache[meta](metaCacheBudget, metaCacheMaxEntry) }

// lookupMeta returns the decoded envelope and structure c keeps for blob,
// decoding and keeping them first if c has their JSON only. A decoding
// error counts as a miss: the reader reads the store, which reports it.
func lookupMeta(c *blobCache[meta], blob int64) (meta, bool) {
	m, ok := c.get(blob)
	if !ok || m.st != nil {
		return m, ok
	}
	env, st, err := decodeMeta(m.envJSON, m.stJSON)
	if err != nil {
		return meta{}, false
	}
	d := meta{env: env, st: st}
	c.put(blob, d, len(m.envJSON)+len(m.stJSON))
	return d, true
}

// keepBytes keeps b, a whole message, for blob and returns it as it is
// now shared: with no room past its end, so that nobody appends into
// what other readers hold.
func keepBytes(c *blobCache[[]byte], blob int64, b []byte) []byte {
	b = b[:len(b):len(b)]
	c.put(blob, b, len(b))
	return b
}

func newBodyCache() *blobCache[[]byte] {
	return newBlobCache[[]byte](bodyCacheBudget, bodyCacheMaxEntry)
}
