package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Snapshot is a read-only REPEATABLE READ transaction: every query on it
// sees the database as of its first query, whatever commits meanwhile.
// It holds a connection of the pool; close it soon.
type Snapshot struct {
	db *DB
	tx pgx.Tx
}

func (db *DB) snapshot(ctx context.Context) (*Snapshot, error) {
	tx, err := db.spool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	return &Snapshot{db: db, tx: tx}, nil
}

// Close ends the read transaction and gives its connection back.
func (s *Snapshot) Close() error {
	err := s.tx.Rollback(context.Background())
	if err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}
