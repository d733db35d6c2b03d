package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

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

const quotaQuery = `SELECT quota, usage FROM accounts WHERE id = ?`

func scanQuota(row *sql.Row, account int64) (Quota, error) {
	var q Quota
	err := row.Scan(&q.Limit, &q.Usage)
	if errors.Is(err, sql.ErrNoRows) {
		return q, fmt.Errorf("store: quota: account %d: %w", account, ErrNotFound)
	}
	if err != nil {
		return q, fmt.Errorf("store: quota: account %d: %w", account, err)
	}
	return q, nil
}

// Quota reads an account's quota and usage inside the transaction, for a
// check made before a write in the same transaction.
func (tx *Tx) Quota(account int64) (Quota, error) {
	return scanQuota(tx.queryRow(quotaQuery, account), account)
}

// Quota reads an account's quota and usage as last committed, for checks
// that need no transaction (an SMTP RCPT) and for display.
func (db *DB) Quota(ctx context.Context, account int64) (Quota, error) {
	return scanQuota(db.rdb.QueryRowContext(ctx, quotaQuery, account), account)
}

// SetQuota sets an account's limit in octets (0: none); ErrNotFound if
// there is no such account. Mail already stored stays even if it is over
// the new limit: the limit applies to what comes next.
func (tx *Tx) SetQuota(address string, limit int64) error {
	if limit < 0 {
		return fmt.Errorf("store: set quota %s: negative limit %d", address, limit)
	}
	res, err := tx.exec(`UPDATE accounts SET quota = ? WHERE address = ?`, limit, address)
	if err != nil {
		return fmt.Errorf("store: set quota: %w", err)
	}
	return mustAffect(res, "account "+address)
}

// StorageKiB is the quota as RFC 9208 5.1's STORAGE resource reports
// it, in units of 1024 octets, both rounded up: a mailbox with anything
// in it never reads 0, and usage within the limit never reads above it.
func (q Quota) StorageKiB() (usage, limit int64) {
	return ceilKiB(q.Usage), ceilKiB(q.Limit)
}

// ceilKiB is n octets in KiB, rounded up, without overflowing near the
// largest int64.
func ceilKiB(n int64) int64 {
	k := n / 1024
	if n%1024 != 0 {
		k++
	}
	return k
}

// SizeOfUIDs returns the total size of the messages in mailbox within
// ranges, read from the (mailbox_id, uid) key: what a COPY of them would
// add to the account's usage, known before anything is written.
func (tx *Tx) SizeOfUIDs(mailbox int64, ranges []UIDRange) (int64, error) {
	var total int64
	for _, r := range ranges {
		var n int64
		if err := tx.queryRow(`SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ?`,
			mailbox, r.Start, r.Stop).Scan(&n); err != nil {
			return 0, fmt.Errorf("store: size of messages: %w", err)
		}
		total += n
	}
	return total, nil
}
