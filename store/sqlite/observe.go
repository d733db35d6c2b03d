package sqlite

import (
	"context"
	"fmt"
	"pillarbox/store"
	"time"
)

// healthRow names the counters row that CheckWritable rewrites.
const healthRow = "health_check"

// CheckWritable runs one real write through the writer, in the group
// commit like any other: it rewrites a single counters row with the time
// and returns once that is committed. An empty transaction would not do:
// SQLite commits one that changed no page without writing to the WAL,
// so a full disk or a read-only file would go unnoticed. It says whether
// the store accepts writes now (the writer runs, the database lock can be
// had, a page can be written and synced); bound it with ctx.
func (db *DB) CheckWritable(ctx context.Context) error {
	now := time.Now().UnixMilli()
	err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.exec(`INSERT INTO counters(name, value) VALUES (?, ?)
			ON CONFLICT(name) DO UPDATE SET value = excluded.value`, healthRow, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: check writable: %w", err)
	}
	return nil
}

const queueCountsQuery = `SELECT q.n, h.n, (SELECT created FROM queue WHERE id = q.first)
	FROM (SELECT count(*) AS n, min(id) AS first FROM queue WHERE state = 'queued') AS q,
		(SELECT count(*) AS n FROM queue WHERE state = 'held') AS h`

// QueueCounts counts the queue's items by state from the queue_due
// index (state first), without reading the table, and finds the oldest
// queued item in the same pass by its id: ids grow with creation
// (AUTOINCREMENT), so the smallest queued id is the oldest item, whose
// creation time is then one seek.
func (db *DB) QueueCounts(ctx context.Context) (store.QueueCounts, error) {
	var c store.QueueCounts
	err := db.rdb.QueryRowContext(ctx, queueCountsQuery).Scan(&c.Queued, &c.Held, nullMillis{&c.OldestQueued})
	if err != nil {
		return store.QueueCounts{}, fmt.Errorf("store: queue counts: %w", err)
	}
	return c, nil
}

// nullMillis scans a nullable milliseconds-since-epoch column into a
// time, leaving it zero for NULL.
type nullMillis struct{ t *time.Time }

func (n nullMillis) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n.t = time.Time{}
	case int64:
		*n.t = time.UnixMilli(x)
	default:
		return fmt.Errorf("store: unexpected %T for a time", v)
	}
	return nil
}

const indexBacklogQuery = `SELECT count(*) FROM blob_text_pending`

// IndexBacklog is how many stored messages wait for the search indexer
// (their text is in blob_text_pending). SEARCH sees them all the same;
// a backlog that only grows means the indexer falls behind.
func (db *DB) IndexBacklog(ctx context.Context) (int64, error) {
	var n int64
	if err := db.rdb.QueryRowContext(ctx, indexBacklogQuery).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: index backlog: %w", err)
	}
	return n, nil
}
