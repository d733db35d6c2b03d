package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// mboxQuery reads a mailbox, Subscribed from the subscriptions (version
// 15): a mailbox is subscribed when its name is.
const mboxQuery = `SELECT id, account_id, name, uidvalidity, uidnext, highestmodseq, special_use, recent_uid,
	EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name)
	FROM mailboxes`

// mboxOrder lists mailboxes by name in byte order, as SQLite's BINARY
// collation does: the database's default collation (a locale's) would
// sort "a" before "B".
const mboxOrder = ` ORDER BY name COLLATE "C"`

// CreateMailbox creates a mailbox with a UIDVALIDITY never used before in
// this database. ErrExists if the account already has that name. With
// subscribed, its name is also subscribed; without, a subscription the
// name already has stays.
func (tx *Tx) CreateMailbox(accountID int64, name, specialUse string, subscribed bool, now time.Time) (store.Mailbox, error) {
	v, err := tx.mboxNextUIDValidity(now)
	if err != nil {
		return store.Mailbox{}, err
	}
	// A name taken (by another node, at the same moment) is ErrExists
	// without a failed statement, which would abort the transaction: the
	// caller may go on, as it can with SQLite.
	var id int64
	err = tx.queryRow(`INSERT INTO mailboxes(account_id, name, uidvalidity, special_use)
		VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, name) DO NOTHING RETURNING id`, accountID, name, v, specialUse).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Mailbox{}, fmt.Errorf("store: create mailbox %q: %w", name, store.ErrExists)
	}
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("store: create mailbox %q: %w", name, classify(err))
	}
	if subscribed {
		// Tx.Subscribe's statement, written here so that this file
		// stands alone: subscribing a name twice is not an error.
		if _, err := tx.exec(`INSERT INTO subscriptions(account_id, name) VALUES ($1, $2)
			ON CONFLICT DO NOTHING`, accountID, name); err != nil {
			return store.Mailbox{}, fmt.Errorf("store: subscribe %q: %w", name, err)
		}
	}
	return tx.MailboxByID(id)
}

// mboxNextUIDValidity hands out UIDVALIDITY values from a counter that
// only grows, starting at the clock so that a database created again from
// scratch is unlikely to repeat values a client has cached. The counter
// row's lock makes nodes creating mailboxes at once take turns.
func (tx *Tx) mboxNextUIDValidity(now time.Time) (uint32, error) {
	var v int64
	err := tx.queryRow(`INSERT INTO counters(name, value) VALUES ('uidvalidity', $1)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value`, now.Unix()&0x7fffffff).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: uidvalidity: %w", err)
	}
	if v <= 0 || v > 0xffffffff {
		return 0, fmt.Errorf("store: uidvalidity counter out of range: %d", v)
	}
	return uint32(v), nil
}

// MailboxByID looks a mailbox up by id inside the transaction.
func (tx *Tx) MailboxByID(id int64) (store.Mailbox, error) {
	return mboxScan(tx.queryRow(mboxQuery+` WHERE id = $1`, id), fmt.Sprint(id))
}

// MailboxByName looks a mailbox up inside the transaction.
func (tx *Tx) MailboxByName(accountID int64, name string) (store.Mailbox, error) {
	return mboxScan(tx.queryRow(mboxQuery+` WHERE account_id = $1 AND name = $2`, accountID, name), name)
}

// MailboxesOf lists an account's mailboxes ordered by name, inside the
// transaction.
func (tx *Tx) MailboxesOf(accountID int64) ([]store.Mailbox, error) {
	rows, err := tx.query(mboxQuery+` WHERE account_id = $1`+mboxOrder, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: mailboxes: %w", err)
	}
	return mboxScanAll(rows)
}

// RenameMailbox gives a mailbox a new name; ErrExists if the account
// already has one of that name, ErrNotFound if id does not exist.
func (tx *Tx) RenameMailbox(id int64, name string) error {
	tag, err := tx.exec(`UPDATE mailboxes SET name = $1 WHERE id = $2`, name, id)
	if err != nil {
		return fmt.Errorf("store: rename mailbox %q: %w", name, classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: mailbox %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// DeleteMailbox removes a mailbox with its messages; blobs that no other
// message or queue row uses go with them (see the triggers). The DELETE
// waits for the mailbox row's lock, so a writer of another node that is
// adding to the mailbox finishes first.
func (tx *Tx) DeleteMailbox(id int64) error {
	tx.touch(id)
	tag, err := tx.exec(`DELETE FROM mailboxes WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete mailbox: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: mailbox %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// MailboxByID looks a mailbox up by id.
func (db *DB) MailboxByID(ctx context.Context, id int64) (store.Mailbox, error) {
	return mboxScan(db.pool.QueryRow(ctx, mboxQuery+` WHERE id = $1`, id), fmt.Sprint(id))
}

// MailboxByName looks a mailbox of an account up by name.
func (db *DB) MailboxByName(ctx context.Context, accountID int64, name string) (store.Mailbox, error) {
	return mboxScan(db.pool.QueryRow(ctx, mboxQuery+` WHERE account_id = $1 AND name = $2`, accountID, name), name)
}

// Mailboxes lists the mailboxes of an account ordered by name.
func (db *DB) Mailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error) {
	rows, err := db.pool.Query(ctx, mboxQuery+` WHERE account_id = $1`+mboxOrder, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: mailboxes: %w", err)
	}
	return mboxScanAll(rows)
}

// MailboxCounts returns a mailbox's totals.
func (db *DB) MailboxCounts(ctx context.Context, id int64) (store.MailboxCounts, error) {
	var c store.MailboxCounts
	err := db.pool.QueryRow(ctx, `SELECT messages, unseen, deleted, size, deleted_size
		FROM mailbox_counts WHERE mailbox_id = $1`, id).Scan(&c.Messages, &c.Unseen, &c.Deleted, &c.Size, &c.DeletedSize)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("store: mailbox %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("store: mailbox %d counts: %w", id, err)
	}
	return c, nil
}

// mboxFields are the scan targets for a row of mboxQuery.
func mboxFields(m *store.Mailbox) []any {
	return []any{&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.SpecialUse, &m.RecentUID, &m.Subscribed}
}

func mboxScan(row pgx.Row, name string) (store.Mailbox, error) {
	var m store.Mailbox
	err := row.Scan(mboxFields(&m)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, fmt.Errorf("store: mailbox %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("store: mailbox %q: %w", name, err)
	}
	return m, nil
}

// mboxScanAll reads every row of a mboxQuery and closes rows.
func mboxScanAll(rows pgx.Rows) ([]store.Mailbox, error) {
	defer rows.Close()
	var out []store.Mailbox
	for rows.Next() {
		var m store.Mailbox
		if err := rows.Scan(mboxFields(&m)...); err != nil {
			return nil, fmt.Errorf("store: mailboxes: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: mailboxes: %w", err)
	}
	return out, nil
}
