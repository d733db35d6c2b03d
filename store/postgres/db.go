package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"pillarbox/store"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is an open PostgreSQL store: a pool of connections to a database
// whose schema is at the newest version this build knows, and the
// writer goroutine that commits this node's writes (writer.go).
type DB struct {
	// Three pools, as the SQLite store has: one for the DB's own short
	// reads (accounts, mailboxes, the queue: what SMTP, logins and
	// delivery need), one for snapshots, which IMAP holds for a whole
	// command, and the writer's one connection. No number of slow IMAP
	// commands can starve delivery, nor reads the writer.
	pool    *pgxpool.Pool
	spool   *pgxpool.Pool
	wpool   *pgxpool.Pool
	log     *slog.Logger
	observe func(requests int, took time.Duration)
	max     int // write requests per transaction

	reqs    chan *request
	quit    chan struct{}
	exited  chan struct{}
	closeMu sync.RWMutex
	closed  bool
	stats   stats

	searchText store.SearchTextFunc // set before the first write
	// beforeCommit, if set, runs in each batch's transaction after its
	// requests, before the COMMIT (for tests).
	beforeCommit func(*Tx)
	// feedPing and feedPingWait are feed.go's, which tests shorten.
	feedPing, feedPingWait time.Duration
	reads                  *queueReads // the items this node's due reads returned (queue_claim.go)
}

// Option changes how Open connects.
type Option func(*options)

type options struct {
	maxConns int32
	target   int // schema version to migrate to; -1: the newest
	log      *slog.Logger
	observe  func(requests int, took time.Duration)
	maxBatch int
	readers  int32
}

// Logger receives the writer's errors. Default: slog.Default().
func Logger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// ObserveCommit is called on the writer goroutine after each committed
// transaction with how many write requests it held and how long it took
// from BEGIN to the durable COMMIT, for metrics; it must be quick.
func ObserveCommit(f func(requests int, took time.Duration)) Option {
	return func(o *options) { o.observe = f }
}

// MaxBatch bounds how many write requests share one transaction.
// Default 256.
func MaxBatch(n int) Option { return func(o *options) { o.maxBatch = n } }

// MaxConns caps the connections of the pool for short reads (default:
// the larger of 4 and the number of CPUs). A node holds that many, plus
// Readers for snapshots, plus one for the writer: the server's
// max_connections must cover the sum over the nodes.
func MaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

// Readers caps the connections for snapshots, which IMAP holds for a
// whole command. Default 8.
func Readers(n int32) Option { return func(o *options) { o.readers = n } }

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
	scfg := cfg.Copy()
	scfg.MaxConns = o.readers
	if scfg.MaxConns <= 0 {
		scfg.MaxConns = 8
	}
	wcfg := cfg.Copy()
	wcfg.MaxConns, wcfg.MinConns = 1, 0
	// A 250 or an OK means committed to disk, whatever the server's or
	// the database's default: the writer's COMMIT waits for the flush.
	wcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	spool, err := pgxpool.NewWithConfig(ctx, scfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	wpool, err := pgxpool.NewWithConfig(ctx, wcfg)
	if err != nil {
		pool.Close()
		spool.Close()
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
		spool.Close()
		wpool.Close()
		return nil, err
	}
	db := &DB{pool: pool, spool: spool, wpool: wpool, log: o.log, observe: o.observe, max: o.maxBatch,
		reqs: make(chan *request), quit: make(chan struct{}), exited: make(chan struct{}),
		reads: newQueueReads(), feedPing: feedPing, feedPingWait: feedPingWait}
	if db.log == nil {
		db.log = slog.Default()
	}
	if db.max <= 0 {
		db.max = 256
	}
	go db.run()
	return db, nil
}

// Close stops the writer once it has answered every queued write, then
// closes the pool, waiting for the connections in use.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return nil
	}
	db.closed = true
	db.closeMu.Unlock()
	close(db.quit)
	<-db.exited
	db.pool.Close()
	db.spool.Close()
	db.wpool.Close()
	return nil
}

// Pool is the pool of connections, for the code of the store to come.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Version returns the schema version the database is at.
func (db *DB) Version(ctx context.Context) (int, error) {
	return schemaVersion(ctx, db.pool)
}
