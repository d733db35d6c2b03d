package store

import (
	"fmt"
	"time"
)

// SentCopy is a message that submission filed in its sender's Sent
// folder itself (see migrations/0006_sent_copies.sql).
type SentCopy struct {
	MailboxID int64
	UID       uint32
	AccountID int64
	MessageID string    // the message's Message-ID, without <>; never ""
	Saved     time.Time // when the submission committed
}

// AddSentCopy records that the message at c.MailboxID/c.UID is an
// automatic Sent copy. The message must exist; the record goes with it.
func (tx *Tx) AddSentCopy(c SentCopy) error {
	if c.MessageID == "" {
		return fmt.Errorf("store: sent copy: empty Message-ID")
	}
	_, err := tx.exec(`INSERT INTO sent_copies(mailbox_id, uid, account_id, message_id, saved) VALUES (?, ?, ?, ?, ?)`,
		c.MailboxID, c.UID, c.AccountID, c.MessageID, c.Saved.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: sent copy: %w", classify(err))
	}
	return nil
}

// SentCopies returns the automatic Sent copies of an account with the
// given Message-ID saved at since or later, by mailbox and UID. The
// copy's mailbox must belong to the account too, so that no record can
// ever reach another account's mail. An empty messageID matches nothing.
func (tx *Tx) SentCopies(accountID int64, messageID string, since time.Time) ([]SentCopy, error) {
	if messageID == "" {
		return nil, nil
	}
	rows, err := tx.query(`SELECT c.mailbox_id, c.uid, c.account_id, c.message_id, c.saved
		FROM sent_copies c JOIN mailboxes b ON b.id = c.mailbox_id
		WHERE c.account_id = ? AND b.account_id = ? AND c.message_id = ? AND c.saved >= ?
		ORDER BY c.mailbox_id, c.uid`, accountID, accountID, messageID, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: sent copies: %w", err)
	}
	defer rows.Close()
	var out []SentCopy
	for rows.Next() {
		var c SentCopy
		var saved int64
		if err := rows.Scan(&c.MailboxID, &c.UID, &c.AccountID, &c.MessageID, &saved); err != nil {
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
// hour's submissions.
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
