package mailbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// authCache remembers credentials that bcrypt verified lately, so that a
// mail app logging in on every connection costs a keyed hash instead of
// a bcrypt comparison (as Dovecot's auth cache does). It holds, per
// account, an HMAC of the password under a key made at start and never
// stored, and the stored hash it was checked against: a password changed
// or an account deleted, by this process or the CLI in another, no
// longer matches. Only successes are cached, so a wrong password always
// costs a full comparison.
type authCache struct {
	key []byte
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[int64]authEntry // by account id
}

type authEntry struct {
	stored  string // the account's password hash when the password was checked
	mac     [sha256.Size]byte
	expires time.Time
}

// Bounds of the cache: an entry lives an hour from its check (Dovecot's
// auth_cache_ttl), and the cache holds at most authCacheMax accounts.
const (
	authCacheTTL = time.Hour
	authCacheMax = 10000
)

func newAuthCache(ttl time.Duration, max int) *authCache {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand, Go 1.24+)
	return &authCache{key: key, ttl: ttl, max: max, entries: make(map[int64]authEntry)}
}

func (c *authCache) mac(password string) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte(password))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// verified reports whether password was checked against stored for the
// account within the TTL.
func (c *authCache) verified(id int64, stored, password string, now time.Time) bool {
	m := c.mac(password)
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	return ok && e.stored == stored && now.Before(e.expires) && hmac.Equal(e.mac[:], m[:])
}

// remember records that password matched stored for the account.
func (c *authCache) remember(id int64, stored, password string, now time.Time) {
	e := authEntry{stored: stored, mac: c.mac(password), expires: now.Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		c.evictLocked(now)
	}
	c.entries[id] = e
}

// evictLocked drops the expired entries, or, if none has expired, an
// arbitrary tenth: their owners pay one bcrypt comparison again.
func (c *authCache) evictLocked(now time.Time) {
	for id, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, id)
		}
	}
	if len(c.entries) < c.max {
		return
	}
	drop := max(c.max/10, 1)
	for id := range c.entries {
		if drop == 0 {
			break
		}
		delete(c.entries, id)
		drop--
	}
}
