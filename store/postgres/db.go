package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is an open PostgreSQL store: a pool of connections to a database
// whose schema is at the newest version this build knows.
type DB struct {
	pool *pgxpool.Pool
}

// Option changes how Open connects.
type Option func(*options)

type options struct {
	maxConns int32
	target   int // schema version to migrate to; -1: the newest
}

// MaxConns caps the pool's connections (pgxpool's default: the larger
// of 4 and the number of CPUs). Each node has its own pool, so the
// server's max_connections must cover the sum over the nodes.
func MaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

// upTo stops the migrations at version v, for tests of each migration.
func upTo(v int) Option { return func(o *options) { o.target = v } }

// Open connects to the database of dsn (a libpq key=value string or a
// postgres:// URL) and applies the migrations it lacks. Several nodes may
// open one database at once: the migrations run once, by one of them.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	o := options{target: -1}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	list, err := loadMigrations(migrationFiles)
	if err == nil {
		target := o.target
		if target < 0 {
			target = len(list)
		}
		err = migrate(ctx, pool, list, target)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{pool: pool}, nil
}

// Close closes the pool, waiting for the connections in use.
func (db *DB) Close() { db.pool.Close() }

// Pool is the pool of connections, for the code of the store to come.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Version returns the schema version the database is at.
func (db *DB) Version(ctx context.Context) (int, error) {
	return schemaVersion(ctx, db.pool)
}
