package postgres

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"pillarbox/store/pgtest"
)

var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }

// openAt opens the database of dsn migrated to version v (-1: the
// newest), closed when t ends.
func openAt(t *testing.T, dsn string, v int) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn, upTo(v))
	if err != nil {
		t.Fatalf("open at version %d: %v", v, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// exec runs sql with args, failing t on error.
func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// id runs an INSERT ... RETURNING id.
func id(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var v int64
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// latest is the number of the newest migration.
func latest(t *testing.T) int {
	t.Helper()
	list, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// openTest opens a fresh database at the newest version, closed when t
// ends.
func openTest(t *testing.T) *DB {
	t.Helper()
	return openAt(t, pg.DB(t), -1)
}
