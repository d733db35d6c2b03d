package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"pillarbox/store"
	"time"
)

// mailboxQuery reads Subscribed from the subscriptions (migration 0014):
// a mailbox is subscribed when its name is.
const mailboxQuery = `SELECT id, account_id, name, uidvalidity, uidnext, highestmodseq, special_use, recent_uid,
	EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name)
	FROM mailboxes`

// CreateMailbox creates a mailbox with a UIDVALIDITY never used before in
// this database. ErrExists if the account already has that name. With
// subscribed, its name is also subscribed; without, a subscription the
// name already has stays.
func (tx *Tx) CreateMailbox(accountID int64, name, specialUse string, subscribed bool, now time.Time) (store.Mailbox, error) {
	tx.touch(store.AccountKey(accountID))
	v, err := tx.nextUIDValidity(now)
	if err != nil {
		return store.Mailbox{}, err
	}
	res, err := tx.exec(`INSERT INTO mailboxes(account_id, name, uidvalidity, special_use)
		VALUES (?, ?, ?, ?)`, accountID, name, v, specialUse)
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("store: create mailbox %q: %w", name, classify(err))
	}
	id, err := res.LastInsertId()
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("store: create mailbox %q: %w", name, err)
	}
	if subscribed {
		if err := tx.Subscribe(accountID, name); err != nil {
			return store.Mailbox{}, err
		}
	}
	return tx.MailboxByID(id)
}

// nextUIDValidity hands out UIDVALIDITY values from a counter that only
// grows. It starts at the clock so that a database created again from
// scratch is unlikely to repeat values a client has cached.
func (tx *Tx) nextUIDValidity(now time.Time) (uint32, error) {
	var v int64
	err := tx.queryRow(`INSERT INTO counters(name, value) VALUES ('uidvalidity', ?)
		ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value`, now.Unix()&0x7fffffff).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: uidvalidity: %w", err)
	}
	if v <= 0 || v > 0xffffffff {
		return 0, fmt.Errorf("store: uidvalidity counter out of range: %d", v)
	}
	return uint32(v), nil
}

// MailboxByName looks a mailbox up inside the transaction.
func (tx *Tx) MailboxByName(accountID int64, name string) (store.Mailbox, error) {
	return scanMailbox(tx.queryRow(mailboxQuery+` WHERE account_id = ? AND name = ?`, accountID, name), name)
}

// MailboxByName looks a mailbox of an account up by name.
func (db *DB) MailboxByName(ctx context.Context, accountID int64, name string) (store.Mailbox, error) {
	return scanMailbox(db.rdb.QueryRowContext(ctx, mailboxQuery+` WHERE account_id = ? AND name = ?`, accountID, name), name)
}

// Mailboxes lists the mailboxes of an account ordered by name.
func (db *DB) Mailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error) {
	rows, err := db.rdb.QueryContext(ctx, mailboxQuery+` WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: mailboxes: %w", err)
	}
	return scanMailboxes(rows)
}

// mailboxFields are the scan targets for a row of mailboxQuery.
func mailboxFields(m *store.Mailbox) []any {
	return []any{&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.SpecialUse, &m.RecentUID, &m.Subscribed}
}

// scanMailboxes reads every row of a mailboxQuery and closes rows.
func scanMailboxes(rows *sql.Rows) ([]store.Mailbox, error) {
	defer rows.Close()
	var out []store.Mailbox
	for rows.Next() {
		var m store.Mailbox
		if err := rows.Scan(mailboxFields(&m)...); err != nil {
			return nil, fmt.Errorf("store: mailboxes: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func scanMailbox(row *sql.Row, name string) (store.Mailbox, error) {
	var m store.Mailbox
	err := row.Scan(mailboxFields(&m)...)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("store: mailbox %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("store: mailbox %q: %w", name, err)
	}
	return m, nil
}
