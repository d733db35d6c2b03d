package sqlite

import (
	"context"
	"fmt"
	"pillarbox/store"
)

// Subscriptions are a set of names per account, kept apart from the
// mailboxes (migrations/0015_subscriptions.sql): deleting or renaming a
// mailbox leaves them as they are, and a name needs no mailbox to be
// subscribed (RFC 9051 6.3.7).

// Subscribe adds name to the account's subscriptions; subscribing a name
// twice is not an error.
func (tx *Tx) Subscribe(accountID int64, name string) error {
	tx.touch(store.AccountKey(accountID))
	if _, err := tx.exec(`INSERT INTO subscriptions(account_id, name) VALUES (?, ?)
		ON CONFLICT DO NOTHING`, accountID, name); err != nil {
		return fmt.Errorf("store: subscribe %q: %w", name, err)
	}
	return nil
}

// Unsubscribe removes name from the account's subscriptions. It reports
// whether the name was subscribed.
func (tx *Tx) Unsubscribe(accountID int64, name string) (bool, error) {
	tx.touch(store.AccountKey(accountID))
	res, err := tx.exec(`DELETE FROM subscriptions WHERE account_id = ? AND name = ?`, accountID, name)
	if err != nil {
		return false, fmt.Errorf("store: unsubscribe %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: unsubscribe %q: %w", name, err)
	}
	return n > 0, nil
}

// Subscriptions returns an account's subscribed names in order, whether
// or not mailboxes of those names exist.
func (db *DB) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := db.rdb.QueryContext(ctx, `SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: subscriptions: %w", err)
	}
	return column[string](rows, "subscriptions")
}
