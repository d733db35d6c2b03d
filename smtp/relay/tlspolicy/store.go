package tlspolicy

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Record is a cached policy of one domain.
type Record struct {
	// Domain is the policy domain in DNS form: A-labels, lower case, no
	// trailing dot. It is the store's key.
	Domain string
	// ID is the id of the TXT record the policy was fetched under (RFC
	// 8461 3.1): a different id in DNS means a new policy.
	ID     string
	Policy Policy
	// Fetched is when the policy was downloaded; Expires is Fetched plus
	// its max_age (RFC 8461 3.2). The policy applies while now is before
	// Expires.
	Fetched, Expires time.Time
	// LastUsed is when a lookup last needed the policy, updated at most
	// once a day. Refresh keeps only policies in use fresh.
	LastUsed time.Time
}

// Store keeps cached policies across restarts. The relay backs it with
// the database (the Policy can be kept as Policy.String and read back
// with Parse). Implementations must be safe for concurrent use.
type Store interface {
	// Get returns domain's record; ok is false when there is none.
	Get(ctx context.Context, domain string) (rec Record, ok bool, err error)
	// Put adds or replaces the record of rec.Domain.
	Put(ctx context.Context, rec Record) error
	// Stale returns, in any order, the records fetched before
	// fetchedBefore or expiring before expiresBefore (expired ones
	// included): the candidates for Refresh.
	Stale(ctx context.Context, fetchedBefore, expiresBefore time.Time) ([]Record, error)
	// Delete removes domain's record, if any.
	Delete(ctx context.Context, domain string) error
}

// MemoryStore is a Store in memory, for tests and as the default when no
// database is given: policies are then lost at restart.
type MemoryStore struct {
	mu   sync.Mutex
	recs map[string]Record
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{recs: map[string]Record{}} }

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, domain string) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recs[domain]
	return cloneRecord(rec), ok, nil
}

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, rec Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[rec.Domain] = cloneRecord(rec)
	return nil
}

// Stale implements Store.
func (s *MemoryStore) Stale(_ context.Context, fetchedBefore, expiresBefore time.Time) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var l []Record
	for _, rec := range s.recs {
		if rec.Fetched.Before(fetchedBefore) || rec.Expires.Before(expiresBefore) {
			l = append(l, cloneRecord(rec))
		}
	}
	return l, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, domain string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs, domain)
	return nil
}

// cloneRecord copies the MX slice, so that a caller changing a record it
// got does not change the stored one.
func cloneRecord(rec Record) Record {
	rec.Policy.MX = slices.Clone(rec.Policy.MX)
	return rec
}
