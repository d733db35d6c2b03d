package store

// Quota is an account's storage quota (RFC 9208's STORAGE resource) and
// what it holds. Migration 0013's triggers keep Usage exact in every
// transaction that adds or removes a message, so reading it costs one
// row: a check inside a write transaction sees every earlier write and no
// other writer can slip in between the check and the write.
type Quota struct {
	// Limit is the most octets the account's messages may take; 0 means
	// no limit.
	Limit int64
	// Usage is the sum of the sizes of the account's messages. A message
	// stored once for several of them (a copy, the same delivery in two
	// folders) counts each time, as RFC 9208 5.1 counts messages.
	Usage int64
}

// Fits reports whether size more octets stay within the quota.
func (q Quota) Fits(size int64) bool {
	return q.Limit <= 0 || q.Usage+size <= q.Limit
}

// StorageKiB is the quota as RFC 9208 5.1's STORAGE resource reports
// it, in units of 1024 octets, both rounded up: a mailbox with anything
// in it never reads 0, and usage within the limit never reads above it.
func (q Quota) StorageKiB() (usage, limit int64) {
	return CeilKiB(q.Usage), CeilKiB(q.Limit)
}

// CeilKiB is n octets in KiB, rounded up, without overflowing near the
// largest int64.
func CeilKiB(n int64) int64 {
	k := n / 1024
	if n%1024 != 0 {
		k++
	}
	return k
}
