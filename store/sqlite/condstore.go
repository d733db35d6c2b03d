package sqlite

import (
	"fmt"
	"pillarbox/store"
)

// ModifiedSince returns, in UID order, the UIDs in ranges of the messages
// whose MODSEQ is above modseq: those STORE ... (UNCHANGEDSINCE modseq)
// leaves alone and reports as MODIFIED (RFC 7162 3.1.3). It reads in the
// write transaction, so the answer holds for the change that follows.
func (tx *Tx) ModifiedSince(mailboxID int64, ranges []store.UIDRange, modseq uint64) ([]uint32, error) {
	var out []uint32
	for _, r := range ranges {
		rows, err := tx.query(`SELECT uid FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? AND modseq > ? ORDER BY uid`,
			mailboxID, r.Start, r.Stop, int64(min(modseq, 1<<63-1)))
		if err != nil {
			return nil, fmt.Errorf("store: modified since: %w", err)
		}
		for rows.Next() {
			var uid uint32
			if err := rows.Scan(&uid); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: modified since: %w", err)
			}
			out = append(out, uid)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: modified since: %w", err)
		}
	}
	return out, nil
}
