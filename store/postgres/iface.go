package postgres

import (
	"context"

	"pillarbox/store"
)

// The PostgreSQL store is a store.Store.
var (
	_ store.Store    = (*DB)(nil)
	_ store.Tx       = (*Tx)(nil)
	_ store.Snapshot = (*Snapshot)(nil)
)

// Write is store.Store's Write: write, with the transaction seen through
// the store.Tx interface.
func (db *DB) Write(ctx context.Context, fn func(store.Tx) error) error {
	return db.write(ctx, func(tx *Tx) error { return fn(tx) })
}

// PostgreSQL makes a commit visible only once it is durable: a read
// depends on no commit that is not, and there is nothing to wait for.

// Committed is store.Store's Committed: always 0.
func (db *DB) Committed() uint64 { return 0 }

// LastCommit is store.Store's LastCommit: always 0.
func (db *DB) LastCommit(any) uint64 { return 0 }

// AwaitCommit is store.Store's AwaitCommit: nothing to wait for.
func (db *DB) AwaitCommit(context.Context, uint64) error { return nil }

// Snapshot is store.Store's Snapshot.
func (db *DB) Snapshot(ctx context.Context) (store.Snapshot, error) {
	s, err := db.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// It is also the store.Feed of the nodes that share it (feed.go).
var _ store.Feed = (*DB)(nil)
