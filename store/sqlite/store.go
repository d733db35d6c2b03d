package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"pillarbox/store"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrations embed.FS

// stmtCache is how many compiled statements each connection keeps (the
// driver's _stmt_cache_size): the queries a store makes, the search
// builder's variants included, are fewer.
const stmtCache = "128"

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives errors of the writer. Zero: slog.Default().
	Logger *slog.Logger
	// MaxBatch bounds how many write requests share one transaction.
	// Zero: 256.
	MaxBatch int
	// Readers is the size of the read-only pool for snapshots
	// (DB.Snapshot), which IMAP holds for a whole command, and for reading
	// message bytes. Zero: 8.
	Readers int
	// LookupReaders is the size of a second read-only pool, for the DB's
	// own short lookups (accounts, aliases, mailboxes, the queue): what
	// SMTP's MAIL and RCPT, logins and delivery read. Long IMAP commands,
	// however many, hold only snapshot readers and cannot starve these.
	// Zero: 4.
	LookupReaders int
	// MaxPages, when positive, caps the database size in pages (PRAGMA
	// max_page_count). Tests use it to make the store "full".
	MaxPages int
	// SyncWAL, if set, is called instead of the fsync of the WAL that
	// makes commits durable (durable.go). Tests use it to hold commits
	// short of durable, or to make the fsync fail. Zero: fsync.
	SyncWAL func() error
	// ObserveCommit, if set, is called on the writer goroutine after each
	// committed batch with how many write requests it held and how long
	// its transaction took, from BEGIN to COMMIT (the fsync that makes it
	// durable comes after, on the syncer: durable.go). For
	// metrics: it must be quick, since every writer waits for it. Zero:
	// nothing is measured.
	ObserveCommit func(requests int, took time.Duration)
	// IndexDelay is the indexer's delay (index.go): a released blob
	// waits at most that long for it, and a new text one to two times
	// that, while fewer than indexAfterRows are pending. Zero: 2 s. Tests
	// that look at the backlog set it long.
	IndexDelay time.Duration
	// SearchText, if set, is installed as SetSearchText would, before
	// Open removes the blobs that the last run released and did not
	// remove: their words leave the index as the function derives them.
	// Without it, Open leaves them to the indexer, which runs once
	// SetSearchText is called.
	SearchText store.SearchTextFunc
}

// DB is an open Pillarbox database.
type DB struct {
	path     string
	wdb      *sql.DB   // exactly one connection, owned by the writer goroutine
	conn     *sql.Conn // that connection
	rdb      *sql.DB   // read-only pool for lookups (Options.LookupReaders)
	sdb      *sql.DB   // read-only pool for snapshots (Options.Readers)
	log      *slog.Logger
	max      int
	reqs     chan *request
	quit     chan struct{}
	exited   chan struct{}
	once     sync.Once
	closeMu  sync.RWMutex // held to send on reqs; Close takes it to set closed
	closed   bool
	closeErr error
	stmts    map[string]*sql.Stmt // writer's prepared statements
	stats    stats
	observe  func(requests int, took time.Duration) // Options.ObserveCommit

	committing atomic.Uint64 // the number the last COMMIT took (durable.go)
	dur        durability

	cdb       *sql.DB // the checkpointer's connection
	ckpt      chan struct{}
	ckptDone  chan struct{}
	sinceKick int         // commits since the checkpointer was last kicked
	walFull   atomic.Bool // the WAL passed walLimitPages

	idx         chan struct{} // kicks the indexer early
	idxTick     chan struct{} // the tick of its delay
	idxTimer    *time.Timer   // ticks idxDelay after the first row of work
	idxArmed    atomic.Bool   // idxTimer is running
	idxFail     atomic.Int32  // tests: so many indexer runs fail first
	idxDelay    time.Duration // that delay (Options.IndexDelay)
	pendingRows int           // rows left for it since the last kick; writer goroutine only
	idxStop     chan struct{}
	idxOnce     sync.Once
	idxDone     chan struct{}

	textFn atomic.Pointer[store.SearchTextFunc] // SetSearchText's function; nil: store.RawSearchText
	// knownPieces are pieces committed to index_pieces, so that the
	// indexer skips them; writer goroutine only (see addIndexPieces).
	knownPieces map[string]struct{}
	// staged is the index text of blobs the indexer is about to remove.
	staged stagedTerms

	searches  sync.Map     // search token → *searchState, while it runs
	searchSeq atomic.Int64 // the last search token
	// searchRowHook, if set, runs after Search's first pass reads each
	// message's text. For tests.
	searchRowHook func()
}

// Open opens (creating if needed) the database at path, with its parent
// directory, and applies pending migrations.
func Open(path string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := prepareFiles(path, log); err != nil {
		return nil, err
	}
	if err := enableQPSG(); err != nil {
		return nil, err
	}
	keepHeap()
	// synchronous=FULL: in WAL mode the WAL is fsynced at every commit, so
	// a commit that returned survives power loss. That holds for the
	// migrations; the writer then switches to NORMAL and fsyncs the WAL
	// itself, after COMMIT (durable.go). _txlock=immediate makes
	// Begin take the write lock at once, so concurrent processes (the CLI
	// beside serve) wait on busy_timeout instead of failing mid-transaction.
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	// Each connection keeps its most used statements compiled: without
	// the cache every query is parsed and planned again (a sixth of the
	// time SQLite spent under imaptest's stress load).
	q.Set("_stmt_cache_size", stmtCache)
	db := &DB{
		path:   path,
		log:    log,
		max:    opts.MaxBatch,
		reqs:   make(chan *request, 1024),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
		stmts:  make(map[string]*sql.Stmt),

		knownPieces: make(map[string]struct{}),
		staged:      stagedTerms{terms: make(map[int64]string)},

		observe:  opts.ObserveCommit,
		idxDelay: cmp.Or(opts.IndexDelay, indexDelay),
	}
	db.dur.init()
	db.dur.sync = opts.SyncWAL
	// Every connection can read the view of the index text (any read of
	// blob_text's columns does), and keeps its temporary data in memory.
	textHook := func(c *sqlite3.SQLiteConn) error {
		if err := memoryTemp(c); err != nil {
			return err
		}
		return registerTextFunctions(c, db.searchText, &db.staged)
	}
	// The writer's connection gets the index text functions, which the
	// triggers that remove blobs and migration 0016 call.
	wdb := sql.OpenDB(connector{dsn: "file:" + escapePath(path) + "?" + q.Encode(), drv: &sqlite3.SQLiteDriver{ConnectHook: textHook}})
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	ctx := context.Background()
	conn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.wdb, db.conn = wdb, conn
	if db.max <= 0 {
		db.max = 256
	}
	if err := db.migrate(ctx); err != nil {
		conn.Close()
		wdb.Close()
		return nil, err
	}
	// From here on the writer fsyncs the WAL itself, after COMMIT and
	// off the writer's path (durable.go); the migrations above committed
	// with synchronous=FULL.
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("store: synchronous: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("store: wal_autocheckpoint: %w", err)
	}
	if opts.MaxPages > 0 {
		if _, err := conn.ExecContext(ctx, "PRAGMA max_page_count = "+strconv.Itoa(opts.MaxPages)); err != nil {
			conn.Close()
			wdb.Close()
			return nil, fmt.Errorf("store: max_page_count: %w", err)
		}
	}

	rq := url.Values{}
	rq.Set("mode", "ro")
	rq.Set("_busy_timeout", "10000")
	rq.Set("_foreign_keys", "on")
	rq.Set("_stmt_cache_size", stmtCache)
	rdsn := "file:" + escapePath(path) + "?" + rq.Encode()
	rdb := sql.OpenDB(connector{dsn: rdsn, drv: &sqlite3.SQLiteDriver{ConnectHook: textHook}})
	setPoolSize(rdb, opts.LookupReaders, 4)
	db.rdb = rdb
	// Snapshot connections get the search functions too.
	db.sdb = sql.OpenDB(connector{dsn: rdsn, drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		if err := textHook(c); err != nil {
			return err
		}
		return db.registerSearchFunctions(c)
	}}})
	setPoolSize(db.sdb, opts.Readers, 8)
	if err := db.openCheckpointer(path); err != nil {
		db.sdb.Close()
		rdb.Close()
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("store: open checkpointer: %w", err)
	}
	go db.run()
	// Text a crash left pending is indexed, and blobs it left released
	// are removed, before Open returns (a few batches at most), rather
	// than by the indexer at some moment after: what Open's caller writes
	// next is then pending until the indexer's own time comes, and
	// pillarbox migrate, which opens the store first, copies no released
	// blob.
	if opts.SearchText != nil {
		db.SetSearchText(opts.SearchText)
	}
	if err := db.flushIndex(context.Background(), opts.SearchText != nil); err != nil {
		db.log.Warn("store: indexing search text left pending", "err", err)
	}
	db.startIndexer()
	return db, nil
}

// memoryTemp keeps the connection's temporary data in memory: sorts and
// the like, and above all the sub-journal of each SAVEPOINT, which the
// writer opens for every request of a batch. SQLite would otherwise
// spill a sub-journal past 64 KiB (an APPEND's pages are more) to a new
// file in /var/tmp, created, written and removed again for each request.
func memoryTemp(c *sqlite3.SQLiteConn) error {
	if _, err := c.Exec("PRAGMA temp_store = MEMORY", nil); err != nil {
		return fmt.Errorf("store: temp_store: %w", err)
	}
	return nil
}

// setPoolSize sets a read pool's size: n, or def when n is not positive.
func setPoolSize(p *sql.DB, n, def int) {
	if n <= 0 {
		n = def
	}
	p.SetMaxOpenConns(n)
	p.SetMaxIdleConns(n)
}

// connector opens connections of one DSN with a driver of the DB's own
// (database/sql's registry is global; this keeps the hook per DB).
type connector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

// escapePath keeps characters such as '?' and '#' in a file name from
// being read as part of the DSN.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// Close waits for queued writes to finish, stops the writer and closes
// the database. Writes submitted after Close fail with ErrClosed. Calling
// Close again returns the first call's result.
func (db *DB) Close() error {
	db.once.Do(func() {
		// The indexer writes through the writer: stop it first.
		db.stopIndexer()
		db.closeMu.Lock()
		db.closed = true
		db.closeMu.Unlock()
		close(db.quit)
		<-db.exited // and the syncer with it
		<-db.ckptDone
		if db.dur.wal != nil {
			db.dur.wal.Close()
		}
		for _, st := range db.stmts {
			st.Close()
		}
		if err := errors.Join(db.sdb.Close(), db.rdb.Close(), db.cdb.Close(), db.conn.Close(), db.wdb.Close()); err != nil {
			db.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return db.closeErr
}

// Path is the database file's path.
func (db *DB) Path() string { return db.path }

// migrate applies every embedded migration newer than PRAGMA user_version,
// each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	sort.Strings(names)
	versions, err := migrationVersions(names)
	if err != nil {
		return err
	}
	var current int
	if err := db.conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("store: schema version: %w", err)
	}
	if latest := versions[len(versions)-1]; current > latest {
		// A database from a newer build: its later migrations may have
		// changed what this build reads and writes, and running on it
		// could lose or corrupt mail without a word.
		return fmt.Errorf("store: the database is at schema version %d, newer than this build's %d: run the newer Pillarbox, or restore a backup taken before the upgrade", current, latest)
	}
	start := current
	for i, name := range names {
		version := versions[i]
		if version <= current {
			continue
		}
		if version != current+1 {
			// A gap means a migration is missing from this build; applying
			// the later one would skip the missing one forever.
			return fmt.Errorf("store: migration %s follows version %d: migrations must be numbered without gaps", name, current)
		}
		body, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		if err := db.applyMigration(ctx, version, string(body)); err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		current = version
	}
	if start > 0 && start < vacuumAfter && current >= vacuumAfter {
		db.compact(ctx)
	}
	return nil
}

// vacuumAfter is the migration after which Open compacts the file once:
// 0016 drops the full-text index's copy of the text, about as large as
// the mail, and SQLite keeps freed pages in the file until a VACUUM.
const vacuumAfter = 16

// compact gives the free pages of the file back to the file system when
// they are more than a quarter of it. It rewrites the whole database (and
// needs that much room while it does), so it only runs after a migration
// that freed that much; a failure leaves the file as it was, and is only
// logged: the free pages are reused by new mail.
func (db *DB) compact(ctx context.Context) {
	var free, pages int64
	if err := db.conn.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		db.log.Warn("store: compacting", "err", err)
		return
	}
	if err := db.conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		db.log.Warn("store: compacting", "err", err)
		return
	}
	if free*4 <= pages {
		return
	}
	db.log.Info("store: compacting the database after the migration", "pages", pages, "free", free)
	start := time.Now()
	if _, err := db.conn.ExecContext(ctx, "VACUUM"); err != nil {
		db.log.Warn("store: compacting", "err", err)
		return
	}
	if _, err := db.conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		db.log.Warn("store: compacting", "err", err)
	}
	db.log.Info("store: compacted", "took", time.Since(start).Round(time.Millisecond))
}

// migrationVersions returns the number of each migration file, names
// sorted. A number used twice is an error: two branches that each added
// a migration numbered the same would otherwise merge cleanly, and the
// second file would be skipped for good.
func migrationVersions(names []string) ([]int, error) {
	out := make([]int, len(names))
	for i, name := range names {
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("store: migration %q: name must start with NNNN_", name)
		}
		if i > 0 && version == out[i-1] {
			return nil, fmt.Errorf("store: migrations %s and %s have the same number", names[i-1], name)
		}
		out[i] = version
	}
	return out, nil
}

// applyMigration runs one migration in a transaction with foreign keys
// off, so that a migration may rebuild a table (create, copy, drop,
// rename: https://sqlite.org/lang_altertable.html#otheralter) without
// the drop cascading into the rows that refer to it. The keys are checked
// in full before the commit instead.
func (db *DB) applyMigration(ctx context.Context, version int, body string) error {
	// PRAGMA foreign_keys is a no-op inside a transaction: set it first.
	if _, err := db.conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer db.conn.ExecContext(ctx, "PRAGMA foreign_keys = ON")
	if _, err := db.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	_, err := db.conn.ExecContext(ctx, body)
	if err == nil {
		err = db.foreignKeyCheck(ctx)
	}
	if err == nil {
		_, err = db.conn.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(version))
	}
	if err == nil {
		_, err = db.conn.ExecContext(ctx, "COMMIT")
	}
	if err != nil {
		db.conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	return nil
}

// foreignKeyCheck fails if any row refers to a row that does not exist.
func (db *DB) foreignKeyCheck(ctx context.Context) error {
	rows, err := db.conn.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return err
		}
		return fmt.Errorf("foreign key check: a row of %s (rowid %d) refers to a missing row of %s", table, rowid.Int64, parent)
	}
	return rows.Err()
}

// SchemaVersion reports the schema version of the open database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.rdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// classify turns SQLite's errors into the package's sentinels where the
// caller has to act on them, keeping the original error in the chain.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch {
		case se.Code == sqlite3.ErrFull,
			se.Code == sqlite3.ErrIoErr && (se.ExtendedCode == sqlite3.ErrIoErrWrite || se.ExtendedCode == sqlite3.ErrIoErrFsync || se.ExtendedCode == sqlite3.ErrIoErrSHMSize):
			return fmt.Errorf("%w: %w", store.ErrFull, err)
		case se.Code == sqlite3.ErrConstraint && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey):
			return fmt.Errorf("%w: %w", store.ErrExists, err)
		}
	}
	return err
}
