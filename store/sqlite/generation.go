package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Generation counters are rows of the counters table that a change made
// by one process bumps inside its transaction, so that another process
// (the running server, when the CLI made the change) can notice it with
// one cheap read instead of a scan.

// bumpGeneration increments the named counter.
func (tx *Tx) bumpGeneration(name string) error {
	_, err := tx.exec(`INSERT INTO counters(name, value) VALUES (?, 1)
		ON CONFLICT(name) DO UPDATE SET value = value + 1`, name)
	if err != nil {
		return fmt.Errorf("store: bump %s: %w", name, err)
	}
	return nil
}

// generation reads the named counter; 0 before its first bump.
func (db *DB) generation(ctx context.Context, name string) (int64, error) {
	var v int64
	err := db.rdb.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", name, err)
	}
	return v, nil
}

// NextSerial increments the named counter and returns its new value: a
// number the counter never gives twice.
func (tx *Tx) NextSerial(name string) (int64, error) {
	var v int64
	err := tx.queryRow(`INSERT INTO counters(name, value) VALUES (?, 1)
		ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: next %s: %w", name, err)
	}
	return v, nil
}
