package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// The delivery history, as the SQLite store keeps it (its history.go):
// one row per event, at in Unix milliseconds.

// AddHistory records an event in the transaction that makes it happen,
// so that it costs no commit of its own.
func (tx *Tx) AddHistory(e store.HistoryEvent) error {
	_, err := tx.exec(`INSERT INTO history(at, event, blob_id, queue_id, message_id, address, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.At.UnixMilli(), e.Event, e.BlobID, e.QueueID, e.MessageID, e.Address, e.Detail)
	if err != nil {
		return fmt.Errorf("store: history: %w", err)
	}
	return nil
}

// PruneHistory removes up to limit events older than cutoff, the oldest
// first, and returns how many it removed: a writer calls it with a small
// limit so that its transaction stays short however much is due.
//
// Several nodes prune at once: the rows another node's pruning holds
// are skipped (SKIP LOCKED) rather than waited for, as they are going;
// this one takes the next oldest, up to its limit.
func (tx *Tx) PruneHistory(cutoff time.Time, limit int) (int64, error) {
	// The oldest event first: most writes find nothing to prune, and
	// that costs one row.
	var oldest int64
	err := tx.queryRow(`SELECT at FROM history ORDER BY id LIMIT 1`).Scan(&oldest)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && oldest >= cutoff.UnixMilli() {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: prune history: %w", err)
	}
	tag, err := tx.exec(`DELETE FROM history WHERE id IN
		(SELECT id FROM history ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) AND at < $2`, limit, cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("store: prune history: %w", err)
	}
	return tag.RowsAffected(), nil
}

// History returns the stories of the messages that the key matches:
// every event of each stored message that has an event with column by
// equal to value, and the matching events themselves, latest first, at
// most limit events. by is one of the HistoryBy constants.
func (db *DB) History(ctx context.Context, by string, value any, limit int) ([]store.HistoryEvent, error) {
	switch by {
	case store.HistoryByBlob, store.HistoryByQueue, store.HistoryByMessageID, store.HistoryByAddress:
	default:
		return nil, fmt.Errorf("store: history: unknown key %q", by)
	}
	rows, err := db.pool.Query(ctx, historyQuery(by), value, limit)
	if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	defer rows.Close()
	var out []store.HistoryEvent
	for rows.Next() {
		var e store.HistoryEvent
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Event, &e.BlobID, &e.QueueID, &e.MessageID, &e.Address, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	return out, nil
}

// historyQuery is History's query for one key. Each arm reads an index
// (history_<key>, then history_blob), so that a lookup costs the size of
// the stories it finds, not of the history (TestHistoryQueriesUseIndexes).
func historyQuery(by string) string {
	const cols = `SELECT id, at, event, blob_id, queue_id, message_id, address, detail FROM history`
	// "by <> none" is the partial index's predicate, which the planner
	// must see in the query to use it.
	none := "0"
	if by == store.HistoryByMessageID || by == store.HistoryByAddress {
		none = "''"
	}
	return cols + ` WHERE ` + by + ` = $1 AND ` + by + ` <> ` + none + `
		UNION
		` + cols + ` WHERE blob_id <> 0 AND blob_id IN (SELECT blob_id FROM history WHERE ` + by + ` = $1 AND ` + by + ` <> ` + none + ` AND blob_id <> 0)
		ORDER BY at DESC, id DESC LIMIT $2`
}
