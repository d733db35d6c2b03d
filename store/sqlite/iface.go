package sqlite

import "pillarbox/store"

// The SQLite store is a store.Store.
var (
	_ store.Store    = (*DB)(nil)
	_ store.Tx       = (*Tx)(nil)
	_ store.Snapshot = (*Snapshot)(nil)
)
