package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"pillarbox/store"
)

const quotaQuery = `SELECT quota, usage FROM accounts WHERE id = ?`

func scanQuota(row *sql.Row, account int64) (store.Quota, error) {
	var q store.Quota
	err := row.Scan(&q.Limit, &q.Usage)
	if errors.Is(err, sql.ErrNoRows) {
		return q, fmt.Errorf("store: quota: account %d: %w", account, store.ErrNotFound)
	}
	if err != nil {
		return q, fmt.Errorf("store: quota: account %d: %w", account, err)
	}
	return q, nil
}

// Quota reads an account's quota and usage inside the transaction, for a
// check made before a write in the same transaction.
func (tx *Tx) Quota(account int64) (store.Quota, error) {
	return scanQuota(tx.queryRow(quotaQuery, account), account)
}

// Quota reads an account's quota and usage as last committed, for checks
// that need no transaction (an SMTP RCPT) and for display.
func (db *DB) Quota(ctx context.Context, account int64) (store.Quota, error) {
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

// SizeOfUIDs returns the total size of the messages in mailbox within
// ranges, read from the (mailbox_id, uid) key: what a COPY of them would
// add to the account's usage, known before anything is written.
func (tx *Tx) SizeOfUIDs(mailbox int64, ranges []store.UIDRange) (int64, error) {
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
