package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Generation counters are rows of the counters table that a change bumps
// inside its transaction, so that other processes and other nodes notice
// it with one cheap read instead of a scan (see the SQLite store).

// bumpGeneration increments the named counter.
func (tx *Tx) bumpGeneration(name string) error {
	_, err := tx.exec(`INSERT INTO counters(name, value) VALUES ($1, 1)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + 1`, name)
	if err != nil {
		return fmt.Errorf("store: bump %s: %w", name, err)
	}
	return nil
}

// generation reads the named counter; 0 before its first bump.
func (db *DB) generation(ctx context.Context, name string) (int64, error) {
	var v int64
	err := db.pool.QueryRow(ctx, `SELECT value FROM counters WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", name, err)
	}
	return v, nil
}

// NextSerial increments the named counter and returns its new value: a
// number the counter never gives twice, on any node.
func (tx *Tx) NextSerial(name string) (int64, error) {
	var v int64
	err := tx.queryRow(`INSERT INTO counters(name, value) VALUES ($1, 1)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: next %s: %w", name, err)
	}
	return v, nil
}
