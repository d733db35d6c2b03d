package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"pillarbox/store"
)

const countsQuery = `SELECT messages, unseen, deleted, size, deleted_size FROM mailbox_counts WHERE mailbox_id = ?`

// MailboxByID looks a mailbox up by id inside the transaction.
func (tx *Tx) MailboxByID(id int64) (store.Mailbox, error) {
	return scanMailbox(tx.queryRow(mailboxQuery+` WHERE id = ?`, id), fmt.Sprint(id))
}

// LockMailbox implements store.Tx: the transaction already holds the
// database's one write lock, so it only checks that the mailbox exists.
func (tx *Tx) LockMailbox(id int64) error {
	_, err := tx.MailboxByID(id)
	return err
}

// MailboxByID looks a mailbox up by id.
func (db *DB) MailboxByID(ctx context.Context, id int64) (store.Mailbox, error) {
	return scanMailbox(db.rdb.QueryRowContext(ctx, mailboxQuery+` WHERE id = ?`, id), fmt.Sprint(id))
}

// MailboxesOf lists an account's mailboxes ordered by name, inside the
// transaction.
func (tx *Tx) MailboxesOf(accountID int64) ([]store.Mailbox, error) {
	rows, err := tx.query(mailboxQuery+` WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: mailboxes: %w", err)
	}
	return scanMailboxes(rows)
}

// RenameMailbox gives a mailbox a new name; ErrExists if the account
// already has one of that name, ErrNotFound if id does not exist.
func (tx *Tx) RenameMailbox(id int64, name string) error {
	if err := tx.touchMailbox(id); err != nil {
		return err
	}
	res, err := tx.exec(`UPDATE mailboxes SET name = ? WHERE id = ?`, name, id)
	if err != nil {
		return fmt.Errorf("store: rename mailbox %q: %w", name, classify(err))
	}
	return mustAffect(res, fmt.Sprintf("mailbox %d", id))
}

// DeleteMailbox removes a mailbox with its messages; blobs that no other
// message or queue row uses go later (see the triggers and index.go).
func (tx *Tx) DeleteMailbox(id int64) error {
	if err := tx.touchMailbox(id); err != nil {
		return err
	}
	res, err := tx.exec(`DELETE FROM mailboxes WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: delete mailbox: %w", err)
	}
	tx.housework += indexAfterRows // its blobs, released
	return mustAffect(res, fmt.Sprintf("mailbox %d", id))
}

// MailboxCounts returns a mailbox's totals.
func (db *DB) MailboxCounts(ctx context.Context, id int64) (store.MailboxCounts, error) {
	return scanCounts(db.rdb.QueryRowContext(ctx, countsQuery, id), id)
}

func scanCounts(row *sql.Row, id int64) (store.MailboxCounts, error) {
	var c store.MailboxCounts
	err := row.Scan(&c.Messages, &c.Unseen, &c.Deleted, &c.Size, &c.DeletedSize)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("store: mailbox %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("store: mailbox %d counts: %w", id, err)
	}
	return c, nil
}

// touchMailbox records that the transaction changes mailbox id and its
// account's set of mailboxes (for LastCommit).
func (tx *Tx) touchMailbox(id int64) error {
	var account int64
	err := tx.queryRow(`SELECT account_id FROM mailboxes WHERE id = ?`, id).Scan(&account)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // nothing changes; the caller reports it
	}
	if err != nil {
		return fmt.Errorf("store: mailbox %d: %w", id, err)
	}
	tx.touch(id)
	tx.touch(store.AccountKey(account))
	return nil
}
