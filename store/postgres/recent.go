package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// ClaimRecent claims a mailbox's \Recent messages (store.Tx). The row's
// lock makes two nodes' sessions claim one after the other: the second
// gets what came since the first.
func (tx *Tx) ClaimRecent(mailboxID int64, atLeast uint32) (first, next uint32, err error) {
	var floor uint32
	err = tx.queryRow(`SELECT recent_uid, uidnext FROM mailboxes WHERE id = $1 FOR UPDATE`, mailboxID).Scan(&floor, &next)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, fmt.Errorf("store: mailbox %d: %w", mailboxID, store.ErrNotFound)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: claim recent: %w", err)
	}
	if floor < next {
		if _, err := tx.exec(`UPDATE mailboxes SET recent_uid = $1 WHERE id = $2`, next, mailboxID); err != nil {
			return 0, 0, fmt.Errorf("store: claim recent: %w", err)
		}
	}
	return max(floor, atLeast), next, nil
}
