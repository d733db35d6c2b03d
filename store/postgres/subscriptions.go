package postgres

import (
	"context"
	"fmt"
)

// Subscriptions are a set of names per account, kept apart from the
// mailboxes (migrations/0015_subscriptions.sql): deleting or renaming a
// mailbox leaves them as they are, and a name needs no mailbox to be
// subscribed (RFC 9051 6.3.7).

// Subscribe adds name to the account's subscriptions; subscribing a name
// twice is not an error (nor two sessions, on two nodes, subscribing it
// at once: the second waits for the first, then does nothing).
func (tx *Tx) Subscribe(accountID int64, name string) error {
	if _, err := tx.exec(`INSERT INTO subscriptions(account_id, name) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, accountID, name); err != nil {
		return fmt.Errorf("store: subscribe %q: %w", name, err)
	}
	return nil
}

// Unsubscribe removes name from the account's subscriptions. It reports
// whether the name was subscribed.
func (tx *Tx) Unsubscribe(accountID int64, name string) (bool, error) {
	tag, err := tx.exec(`DELETE FROM subscriptions WHERE account_id = $1 AND name = $2`, accountID, name)
	if err != nil {
		return false, fmt.Errorf("store: unsubscribe %q: %w", name, err)
	}
	return tag.RowsAffected() > 0, nil
}

// Subscriptions returns an account's subscribed names in byte order, as
// SQLite's, whether or not mailboxes of those names exist.
func (db *DB) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name COLLATE "C"`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: subscriptions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("store: subscriptions: %w", err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: subscriptions: %w", err)
	}
	return out, nil
}
