package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Expunged UIDs are rows of vanished, written by RemoveMessages with the
// MODSEQ of their removal; PruneVanished bounds them per mailbox and
// raises the mailbox's vanished_floor past every row it forgets, so that
// VanishedSince is exact or says it is not (see migrations/0012).

// VanishedOverflow returns, in id order, the mailboxes that remember more
// than keep expunged UIDs, for PruneVanished. It scans the
// vanished_modseq index: meant for a housekeeping task that runs every
// few minutes, off the writer.
func (db *DB) VanishedOverflow(ctx context.Context, keep int) ([]int64, error) {
	rows, err := db.pool.Query(ctx, `SELECT mailbox_id FROM vanished GROUP BY mailbox_id HAVING count(*) > $1
		ORDER BY mailbox_id`, keep)
	if err != nil {
		return nil, fmt.Errorf("store: vanished overflow: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("store: vanished overflow: %w", err)
	}
	if len(out) == 0 {
		return nil, nil // as SQLite's store answers none
	}
	return out, nil
}

// PruneVanished forgets up to limit of the oldest expunged UIDs of a
// mailbox beyond its newest keep, and raises the mailbox's
// vanished_floor to the highest MODSEQ it forgot, in the same
// transaction; it returns how many it forgot. An expunge of several UIDs
// shares one MODSEQ: the rows of the MODSEQ where the cut falls go too,
// so a mailbox may keep a little fewer than keep. A caller repeats it
// while it returns limit, so that no one transaction is long.
//
// It holds the mailbox's lock from the start, as the writers of its
// expunges do: the cut is taken among rows no other node is adding to
// or pruning at the same time.
func (tx *Tx) PruneVanished(mailboxID int64, keep, limit int) (int64, error) {
	if keep < 0 || limit <= 0 {
		return 0, fmt.Errorf("store: prune vanished: keep %d, limit %d", keep, limit)
	}
	if found, err := tx.msgLockMailbox(mailboxID); err != nil || !found {
		return 0, err
	}
	// The newest row that goes: the (keep+1)th from the newest.
	var cut int64
	err := tx.queryRow(`SELECT modseq FROM vanished WHERE mailbox_id = $1 ORDER BY modseq DESC LIMIT 1 OFFSET $2`,
		mailboxID, keep).Scan(&cut)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: prune vanished: %w", err)
	}
	// One statement picks and removes the rows, so the floor is the
	// highest MODSEQ of exactly those.
	var n, floor int64
	err = tx.queryRow(`WITH gone AS (
			DELETE FROM vanished WHERE mailbox_id = $1 AND uid IN
				(SELECT uid FROM vanished WHERE mailbox_id = $1 AND modseq <= $2 ORDER BY modseq LIMIT $3)
			RETURNING modseq)
		SELECT count(*), coalesce(max(modseq), 0) FROM gone`, mailboxID, cut, limit).Scan(&n, &floor)
	if err != nil {
		return 0, fmt.Errorf("store: prune vanished: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	if _, err := tx.exec(`UPDATE mailboxes SET vanished_floor = greatest(vanished_floor, $1) WHERE id = $2`, floor, mailboxID); err != nil {
		return 0, fmt.Errorf("store: prune vanished: floor: %w", err)
	}
	return n, nil
}
