package sqlite

import (
	"context"
	"fmt"
	"strings"
)

// noteKeywords records the space-separated keywords as the mailbox's
// (mailbox_keywords), once each: what FLAGS lists at SELECT.
func (tx *Tx) noteKeywords(mailboxID int64, keywords string) error {
	for _, k := range strings.Fields(keywords) {
		if _, err := tx.exec(`INSERT OR IGNORE INTO mailbox_keywords(mailbox_id, keyword) VALUES (?, ?)`, mailboxID, k); err != nil {
			return fmt.Errorf("store: keywords: %w", err)
		}
	}
	return nil
}

// Keywords returns the mailbox's keywords in the order of their names.
func (s *Snapshot) Keywords(ctx context.Context, mailboxID int64) ([]string, error) {
	rows, err := s.query(`SELECT keyword FROM mailbox_keywords WHERE mailbox_id = ? ORDER BY keyword`, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("store: keywords: %w", err)
	}
	return column[string](rows, "keywords")
}
