package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"pillarbox/store"
)

// ClaimRecent claims a mailbox's \Recent messages (store.Tx).
func (tx *Tx) ClaimRecent(mailboxID int64, atLeast uint32) (first, next uint32, err error) {
	var floor uint32
	err = tx.queryRow(`SELECT recent_uid, uidnext FROM mailboxes WHERE id = ?`, mailboxID).Scan(&floor, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("store: mailbox %d: %w", mailboxID, store.ErrNotFound)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: claim recent: %w", err)
	}
	if floor < next {
		if _, err := tx.exec(`UPDATE mailboxes SET recent_uid = ? WHERE id = ?`, next, mailboxID); err != nil {
			return 0, 0, fmt.Errorf("store: claim recent: %w", err)
		}
		tx.touch(mailboxID)
	}
	return max(floor, atLeast), next, nil
}
