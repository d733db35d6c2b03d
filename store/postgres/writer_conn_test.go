package postgres

import (
	"context"
	"testing"
)

// The writer's connection may die while idle (a server restart, an idle
// session timeout): the next writes succeed on a new one.
func TestWriterSurvivesLostConnection(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	var pid int32
	if err := db.write(ctx, func(tx *Tx) error {
		return tx.queryRow(`SELECT pg_backend_pid()`).Scan(&pid)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := db.write(ctx, bump("after")); err != nil {
			t.Fatalf("write %d after the idle writer connection was lost: %v", i, err)
		}
	}
	// A connection lost inside a request, before COMMIT: the batch runs
	// again on a new connection, and commits once.
	runs := 0
	if err := db.write(ctx, func(tx *Tx) error {
		runs++
		if err := bump("inside")(tx); err != nil {
			return err
		}
		if runs == 1 {
			tx.exec(`SELECT pg_terminate_backend(pg_backend_pid())`)
		}
		return nil
	}); err != nil {
		t.Fatalf("write whose connection was lost inside: %v", err)
	}
	if got := counterValue(t, db, "after") + counterValue(t, db, "inside"); got != 3 {
		t.Errorf("counters = %d, want 3 (each write once)", got)
	}
	if err := db.write(ctx, bump("next")); err != nil {
		t.Fatalf("next write: %v", err)
	}
}
