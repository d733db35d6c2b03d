package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// Storage quotas, as the SQLite store keeps them (its quota.go): the
// limit and the usage are columns of the account, which migration 0013's
// triggers keep exact in every transaction that adds or removes a
// message, under the account row's lock, whichever node writes.

const quotaQuery = `SELECT quota, usage FROM accounts WHERE id = $1`

func quotaScan(row pgx.Row, account int64) (store.Quota, error) {
	var q store.Quota
	err := row.Scan(&q.Limit, &q.Usage)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Quota{}, fmt.Errorf("store: quota: account %d: %w", account, store.ErrNotFound)
	}
	if err != nil {
		return store.Quota{}, fmt.Errorf("store: quota: account %d: %w", account, err)
	}
	return q, nil
}

// Quota reads an account's quota and usage inside the transaction, for a
// check made before a write in the same transaction.
//
// Unlike SQLite's single writer, another node may add to the account
// between this read and the write: a check made before the write (a
// delivery's) can then let the account pass its limit by what the nodes
// deliver at that moment. A read after this transaction's own write (the
// second check of APPEND and COPY) is exact: the usage trigger's UPDATE
// waited for the other writers and added to what they committed. The row
// is not locked here, which would take the account's lock before the
// mailbox's, against the order every message write takes them in.
func (tx *Tx) Quota(account int64) (store.Quota, error) {
	return quotaScan(tx.queryRow(quotaQuery, account), account)
}

// Quota reads an account's quota and usage as last committed, for checks
// that need no transaction (an SMTP RCPT) and for display.
func (db *DB) Quota(ctx context.Context, account int64) (store.Quota, error) {
	return quotaScan(db.pool.QueryRow(ctx, quotaQuery, account), account)
}

// SetQuota sets an account's limit in octets (0: none); ErrNotFound if
// there is no such account. Mail already stored stays even if it is over
// the new limit: the limit applies to what comes next.
func (tx *Tx) SetQuota(address string, limit int64) error {
	if limit < 0 {
		return fmt.Errorf("store: set quota %s: negative limit %d", address, limit)
	}
	tag, err := tx.exec(`UPDATE accounts SET quota = $1 WHERE address = $2`, limit, address)
	if err != nil {
		return fmt.Errorf("store: set quota: %w", err)
	}
	return dirAffected(tag, "account "+address)
}

// SizeOfUIDs returns the total size of the messages in mailbox within
// ranges, read from the (mailbox_id, uid) key: what a COPY of them would
// add to the account's usage, known before anything is written. As in
// SQLite, each range is summed apart (a message in two overlapping
// ranges counts twice); here in one statement rather than one a range.
func (tx *Tx) SizeOfUIDs(mailbox int64, ranges []store.UIDRange) (int64, error) {
	if len(ranges) == 0 {
		return 0, nil
	}
	lo, hi := make([]int64, len(ranges)), make([]int64, len(ranges))
	for i, r := range ranges {
		lo[i], hi[i] = int64(r.Start), int64(r.Stop)
	}
	var total int64
	err := tx.queryRow(`SELECT coalesce(sum(m.size), 0)::bigint
		FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
		JOIN messages m ON m.mailbox_id = $1 AND m.uid BETWEEN r.lo AND r.hi`, mailbox, lo, hi).Scan(&total)
	if err != nil {
		return 0, fmt.Errorf("store: size of messages: %w", err)
	}
	return total, nil
}
