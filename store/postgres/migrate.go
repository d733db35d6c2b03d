package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one file of migrations/: NNNN_name.sql.
type migration struct {
	version int
	name    string
	body    string
}

// loadMigrations reads the migrations of fsys in order, and refuses a
// number used twice or skipped: two branches that each added a migration
// with the same number would otherwise merge cleanly and one file be
// skipped for good, and a gap means one is missing from this build.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	list := make([]migration, 0, len(names))
	for i, path := range names {
		name := strings.TrimPrefix(path, "migrations/")
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 {
			return nil, fmt.Errorf("postgres: migration %q: name must start with NNNN_", name)
		}
		if version != i+1 {
			return nil, fmt.Errorf("postgres: migration %s: want number %d: migrations are numbered from 1, each once, without gaps", name, i+1)
		}
		body, err := fs.ReadFile(fsys, path)
		if err != nil {
			return nil, err
		}
		list = append(list, migration{version: version, name: name, body: string(body)})
	}
	if len(list) == 0 {
		return nil, errors.New("postgres: no migrations")
	}
	return list, nil
}

// migrationLock is the key of the transaction-level advisory lock every
// migration step takes (an advisory lock is per database, so databases on
// one server do not wait for each other). Any constant nobody else uses;
// this one is "pillarbx" in ASCII.
const migrationLock int64 = 0x70696c6c61726278

// migrate brings the database to version target, one migration per
// transaction, so that a failure leaves it at the last version that
// succeeded.
func migrate(ctx context.Context, pool *pgxpool.Pool, list []migration, target int) error {
	for {
		done, err := step(ctx, pool, list, target)
		if err != nil || done {
			return err
		}
	}
}

// step applies the migration after the database's version, unless it is
// at target already (done). The advisory lock, taken first, serialises
// the nodes starting together: the second waits for the first's commit
// and then reads the version the first left, so no migration runs twice.
func step(ctx context.Context, pool *pgxpool.Pool, list []migration, target int) (done bool, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: migrating: %w", err)
	}
	defer tx.Rollback(ctx) // after Commit, does nothing
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return false, fmt.Errorf("postgres: migration lock: %w", err)
	}
	current, err := lockedVersion(ctx, tx)
	if err != nil {
		return false, err
	}
	if current > len(list) {
		// A database from a newer build: its later migrations may have
		// changed what this build reads and writes.
		return false, fmt.Errorf("postgres: the database is at schema version %d, newer than this build's %d: run the newer Pillarbox, or restore a backup taken before the upgrade", current, len(list))
	}
	if current >= target {
		return true, tx.Commit(ctx)
	}
	m := list[current]
	// Without arguments, Exec sends the file as one simple query, which
	// may hold many statements (and PL/pgSQL bodies).
	if _, err := tx.Exec(ctx, m.body); err != nil {
		return false, fmt.Errorf("postgres: migration %s: %w", m.name, describe(err, m.body))
	}
	if _, err := tx.Exec(ctx, "UPDATE schema_version SET version = $1", m.version); err != nil {
		return false, fmt.Errorf("postgres: migration %s: %w", m.name, err)
	}
	return false, tx.Commit(ctx)
}

// lockedVersion returns the version in schema_version, making the table
// (at version 0) in a database that has none. Only under the migration
// lock: two CREATE TABLE IF NOT EXISTS at once can both try to create it.
func lockedVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		one     boolean PRIMARY KEY DEFAULT true CHECK (one),
		version integer NOT NULL
	);
	INSERT INTO schema_version(version) VALUES (0) ON CONFLICT DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	var v int
	if err := tx.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	return v, nil
}

// schemaVersion reads the version without the lock: 0 when no migration
// ever ran.
func schemaVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var v int
	err := pool.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return 0, nil
	}
	return v, err
}

// describe adds the line of the file where a statement failed, which
// PostgreSQL gives as a character offset into the whole query string.
func describe(err error, body string) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Position <= 0 {
		return err
	}
	runes := []rune(body)
	at := min(int(pgErr.Position), len(runes))
	line := 1 + strings.Count(string(runes[:at]), "\n")
	return fmt.Errorf("line %d: %w", line, err)
}
