package sqlite

import (
	"context"
	"database/sql"
	"testing"
)

// TestBoundValuesNotCompiledIn checks that no connection of the store
// compiles a bound value into a statement. SQLite 3.54 does, for LIMIT ?
// and for any "column = ?" the planner weighs, unless the query planner
// stability guarantee is on; and the driver clears the bindings of each
// statement it reuses, which then expires it: every query was parsed and
// planned again at each run (a fifth of the server's CPU under imaptest's
// stress load). The program EXPLAIN prints of "LIMIT ?" shows the bound
// value as a constant when the statement was re-prepared for it.
func TestBoundValuesNotCompiledIn(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	const limit = 987654
	check := func(name string, q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}) {
		t.Helper()
		for range 2 { // the second run takes the statement from the cache
			rows, err := q.QueryContext(ctx, "EXPLAIN SELECT uid FROM messages WHERE mailbox_id = ? LIMIT ?", 1, limit)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for rows.Next() {
				var addr, p1, p2, p3 int64
				var op string
				var p4, p5, comment any
				if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if op == "Integer" && p1 == limit {
					t.Errorf("%s: the bound LIMIT was compiled into the statement (%d %s %d %d)", name, addr, op, p1, p2)
				}
			}
			if err := rows.Close(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	snap, err := db.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	check("snapshot", snap.conn)
	check("lookup", db.rdb)
	check("writer", db.conn)
}

// TestTemporaryDataInMemory: every connection keeps temporary data in
// memory, so that the writer's SAVEPOINT sub-journals never go to files
// (SQLite spills one past 64 KiB otherwise: an APPEND's pages are more).
func TestTemporaryDataInMemory(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	snap, err := db.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	for name, q := range map[string]interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}{"writer": db.conn, "lookup": db.rdb, "snapshot": snap.conn} {
		var mode int
		if err := q.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&mode); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if mode != 2 {
			t.Errorf("%s connection: temp_store %d, want 2 (MEMORY)", name, mode)
		}
	}
}
