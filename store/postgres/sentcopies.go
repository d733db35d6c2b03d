package postgres

import (
	"fmt"
	"time"

	"pillarbox/store"
)

// Recent Sent copies, as the SQLite store keeps them (its sentcopies.go):
// a record goes with its message (the foreign key's cascade), saved is
// Unix milliseconds.

// AddSentCopy records the message at c.MailboxID/c.UID as a Sent copy.
// The message must exist; the record goes with it. ErrExists if the
// message has a record already, answered without a failing statement so
// that the transaction stays usable (see accounts.go).
func (tx *Tx) AddSentCopy(c store.SentCopy) error {
	if c.MessageID == "" {
		return fmt.Errorf("store: sent copy: empty Message-ID")
	}
	tag, err := tx.exec(`INSERT INTO sent_copies(mailbox_id, uid, account_id, message_id, kind, saved)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (mailbox_id, uid) DO NOTHING`,
		c.MailboxID, c.UID, c.AccountID, c.MessageID, c.Kind, c.Saved.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: sent copy: %w", classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: sent copy of %d/%d: %w", c.MailboxID, c.UID, store.ErrExists)
	}
	return nil
}

// SentCopies returns an account's Sent copies of one kind with the
// given Message-ID saved at since or later, by mailbox and UID. The
// copy's mailbox must belong to the account too, so that no record can
// ever reach another account's mail. An empty messageID matches nothing.
func (tx *Tx) SentCopies(accountID int64, messageID, kind string, since time.Time) ([]store.SentCopy, error) {
	if messageID == "" {
		return nil, nil
	}
	rows, err := tx.query(`SELECT c.mailbox_id, c.uid, c.account_id, c.message_id, c.kind, c.saved
		FROM sent_copies c JOIN mailboxes b ON b.id = c.mailbox_id
		WHERE c.account_id = $1 AND b.account_id = $1 AND c.message_id = $2 AND c.kind = $3 AND c.saved >= $4
		ORDER BY c.mailbox_id, c.uid`, accountID, messageID, kind, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: sent copies: %w", err)
	}
	defer rows.Close()
	var out []store.SentCopy
	for rows.Next() {
		var c store.SentCopy
		var saved int64
		if err := rows.Scan(&c.MailboxID, &c.UID, &c.AccountID, &c.MessageID, &c.Kind, &saved); err != nil {
			return nil, fmt.Errorf("store: sent copies: %w", err)
		}
		c.Saved = time.UnixMilli(saved)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sent copies: %w", err)
	}
	return out, nil
}

// PruneSentCopies forgets the records saved before cutoff (the messages
// stay) and returns how many it removed: past the matching window they
// can no longer match, and the table stays as small as a quarter of an
// hour's sent mail.
//
// Every submission prunes, on every node: a record another transaction
// holds (another node's pruning, its message's removal) is going
// already, and is skipped rather than waited for.
func (tx *Tx) PruneSentCopies(cutoff time.Time) (int64, error) {
	tag, err := tx.exec(`DELETE FROM sent_copies WHERE (mailbox_id, uid) IN
		(SELECT mailbox_id, uid FROM sent_copies WHERE saved < $1 FOR UPDATE SKIP LOCKED)`, cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("store: prune sent copies: %w", err)
	}
	return tag.RowsAffected(), nil
}
