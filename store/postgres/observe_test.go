package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"pillarbox/store"
)

func TestCheckWritable(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	db := openAt(t, d, -1)
	ctx := context.Background()
	var last int64
	for range 2 { // the first check inserts the row, the second updates it
		if err := db.CheckWritable(ctx); err != nil {
			t.Fatalf("open store: %v", err)
		}
		v := counterValue(t, db, observeHealthRow)
		if v == 0 || v < last {
			t.Fatalf("health row %d after %d: the check wrote nothing", v, last)
		}
		last = v
	}
	// Another node checks the same row.
	if err := openAt(t, d, -1).CheckWritable(ctx); err != nil {
		t.Fatalf("a second node: %v", err)
	}
	db.Close()
	if err := db.CheckWritable(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("closed store: %v, want ErrClosed", err)
	}
}

// A database that takes no writes (here read-only by default, as a
// standby would be) fails the check, which a commit of nothing would
// not notice.
func TestCheckWritableReadOnly(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	var name string
	query1(t, db.pool, "SELECT current_database()", &name)
	exec(t, db.pool, "ALTER DATABASE "+name+" SET default_transaction_read_only = on")
	// The setting holds for new sessions: drop the pool's, none of which
	// the writer holds yet.
	db.pool.Reset()
	err := db.CheckWritable(ctx)
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "25006" {
		t.Fatalf("read-only database: %v, want read_only_sql_transaction", err)
	}
	// An empty write commits there: it is no check.
	if err := db.write(ctx, func(*Tx) error { return nil }); err != nil {
		t.Fatalf("an empty write: %v", err)
	}
}

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	ctx := context.Background()
	for _, v := range []int{3, -1} {
		db := openAt(t, d, v)
		want := v
		if v < 0 {
			want = latest(t)
		}
		if got, err := db.SchemaVersion(ctx); got != want || err != nil {
			t.Fatalf("opened at %d: version %d, %v; want %d", v, got, err, want)
		}
	}
}
