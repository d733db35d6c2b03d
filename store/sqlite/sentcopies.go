package sqlite

import (
	"fmt"
	"pillarbox/store"
	"time"
)

// AddSentCopy records the message at c.MailboxID/c.UID as a Sent copy.
// The message must exist; the record goes with it.
func (tx *Tx) AddSentCopy(c store.SentCopy) error {
	if c.MessageID == "" {
		return fmt.Errorf("store: sent copy: empty Message-ID")
	}
	_, err := tx.exec(`INSERT INTO sent_copies(mailbox_id, uid, account_id, message_id, kind, saved) VALUES (?, ?, ?, ?, ?, ?)`,
		c.MailboxID, c.UID, c.AccountID, c.MessageID, c.Kind, c.Saved.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: sent copy: %w", classify(err))
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
		WHERE c.account_id = ? AND b.account_id = ? AND c.message_id = ? AND c.kind = ? AND c.saved >= ?
		ORDER BY c.mailbox_id, c.uid`, accountID, accountID, messageID, kind, since.UnixMilli())
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
func (tx *Tx) PruneSentCopies(cutoff time.Time) (int64, error) {
	res, err := tx.exec(`DELETE FROM sent_copies WHERE saved < ?`, cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("store: prune sent copies: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune sent copies: %w", err)
	}
	return n, nil
}
