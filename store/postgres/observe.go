package postgres

import (
	"context"
	"fmt"
	"time"
)

// observeHealthRow names the counters row that CheckWritable rewrites.
const observeHealthRow = "health_check"

// CheckWritable runs one real write through the writer, in the group
// commit like any other: it rewrites a single counters row with the time
// and returns once that is committed. An empty transaction would not do
// here either: PostgreSQL commits one that wrote nothing without writing
// or flushing WAL, so a full disk, a read-only database (a standby, a
// default_transaction_read_only) or a server refusing writes would go
// unnoticed. It says whether the store accepts writes now (the writer
// runs, a connection can be had, a row can be written and its commit
// flushed); bound it with ctx.
//
// The nodes share the row: each check holds its lock until its batch
// commits, so checks of several nodes at once take turns, briefly.
func (db *DB) CheckWritable(ctx context.Context) error {
	now := time.Now().UnixMilli()
	err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.exec(`INSERT INTO counters(name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, observeHealthRow, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: check writable: %w", err)
	}
	return nil
}

// SchemaVersion reports the schema version of the open database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	return db.Version(ctx)
}
