package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"pillarbox/store"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

type stats struct{ requests, commits, restarts atomic.Uint64 }

// Stats reports how many requests the writer has answered and in how many
// commits: with concurrent writers, Commits grows slower than Requests.
func (db *DB) Stats() store.Stats {
	return store.Stats{Requests: db.stats.requests.Load(), Commits: db.stats.commits.Load()}
}

// request is one caller's unit of work for the writer.
type request struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
}

// Tx is the write transaction handed to a Write function. It is only
// valid during that call, and only on the writer goroutine.
type Tx struct {
	db       *DB
	onCommit []func()
	locks    map[any]sync.Locker
	order    []sync.Locker

	// housework counts the rows the batch left for the indexer: texts it
	// added to blob_text_pending, messages and queue items it removed
	// (whose blobs the triggers may have noted in blobs_released).
	housework int
}

// OnCommit registers f to run on the writer goroutine once the
// transaction is durably committed, in the order of registration across
// the whole batch, before any lock taken with Lock is released. If the
// request fails or the commit fails, f never runs.
func (tx *Tx) OnCommit(f func()) { tx.onCommit = append(tx.onCommit, f) }

// Lock acquires l (once per key and batch) and holds it until the batch
// has committed and its OnCommit functions have run. It lets a caller make
// a database change and its in-memory notification one atomic step for
// anyone who takes the same lock to read both.
//
// Only the writer goroutine takes more than one such lock at a time, so
// readers that take one lock and never wait for a write cannot deadlock
// with it.
func (tx *Tx) Lock(key any, l sync.Locker) {
	if _, ok := tx.locks[key]; ok {
		return
	}
	l.Lock()
	tx.locks[key] = l
	tx.order = append(tx.order, l)
}

// Write runs fn inside the writer's transaction and returns once that
// transaction is committed and fsynced (nil) or fn's changes are rolled
// back (the error). Concurrent callers share one transaction and one
// fsync (group commit); each runs inside its own SAVEPOINT, so an error
// from one fn undoes only that fn's changes.
//
// fn must not block on anything but the database: every writer in the
// process waits for it.
func (db *DB) write(ctx context.Context, fn func(*Tx) error) error {
	req := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	// The read lock orders every send before Close marks the store
	// closed, so the writer's final drain sees every queued request.
	db.closeMu.RLock()
	if db.closed {
		db.closeMu.RUnlock()
		return store.ErrClosed
	}
	select {
	case db.reqs <- req:
	case <-ctx.Done():
		db.closeMu.RUnlock()
		return ctx.Err()
	}
	db.closeMu.RUnlock()
	// Once queued, the request is always answered (run's drain at Close
	// included); waiting for it even if ctx ends tells the caller the truth.
	return <-req.done
}

func (db *DB) run() {
	defer close(db.exited)
	store.GroupCommit(db.reqs, db.quit, db.max, func(batch []*request) []*request {
		db.commit(batch)
		return nil
	})
}

// commit runs one batch in one transaction and answers every request.
func (db *DB) commit(batch []*request) {
	ctx := context.Background()
	results := make([]error, len(batch))
	tx := &Tx{db: db, locks: make(map[any]sync.Locker)}
	defer func() {
		for i := len(tx.order) - 1; i >= 0; i-- {
			tx.order[i].Unlock()
		}
		db.stats.requests.Add(uint64(len(batch)))
		for i, r := range batch {
			r.done <- results[i]
		}
	}()
	fail := func(err error) {
		err = classify(err)
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
		tx.onCommit = nil
	}

	db.restartWALIfLong(ctx)
	var began time.Time
	if db.observe != nil {
		began = time.Now()
	}
	if _, err := db.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		fail(fmt.Errorf("store: begin: %w", err))
		return
	}
	// A request of a batch of one needs no savepoint: if it fails, the
	// transaction is rolled back whole.
	alone := len(batch) == 1
	ok := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if alone {
			if err := callSafely(r.fn, tx); err != nil {
				results[i] = classify(err)
			} else {
				ok++
			}
			continue
		}
		if _, err := db.conn.ExecContext(ctx, "SAVEPOINT req"); err != nil {
			db.rollback()
			fail(fmt.Errorf("store: savepoint: %w", err))
			return
		}
		mark := len(tx.onCommit)
		err := callSafely(r.fn, tx)
		if err != nil {
			results[i] = classify(err)
			tx.onCommit = tx.onCommit[:mark]
			if _, rerr := db.conn.ExecContext(ctx, "ROLLBACK TO req"); rerr != nil {
				db.rollback()
				fail(fmt.Errorf("store: rollback to savepoint: %w", rerr))
				return
			}
		} else {
			ok++
		}
		if _, err := db.conn.ExecContext(ctx, "RELEASE req"); err != nil {
			db.rollback()
			fail(fmt.Errorf("store: release savepoint: %w", err))
			return
		}
	}
	if ok == 0 {
		db.rollback()
		return
	}
	if _, err := db.conn.ExecContext(ctx, "COMMIT"); err != nil {
		// A failed COMMIT (disk full, I/O error) may leave the transaction
		// open on the connection: end it so the next batch starts clean.
		db.rollback()
		db.log.Error("store: commit failed", "err", err, "requests", len(batch))
		fail(fmt.Errorf("store: commit: %w", err))
		return
	}
	db.stats.commits.Add(1)
	if db.observe != nil {
		db.observe(len(batch), time.Since(began))
	}
	db.noteCommit()
	db.notePending(tx.housework)
	for _, f := range tx.onCommit {
		f()
	}
}

func (db *DB) rollback() {
	db.conn.ExecContext(context.Background(), "ROLLBACK")
}

// callSafely runs fn, turning a panic into an error so that one bad
// request cannot take the writer (and every other caller) down.
func callSafely(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: panic in write: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(tx)
}

// stmt returns the writer's prepared statement for query.
func (tx *Tx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := tx.db.stmts[query]; ok {
		return st, nil
	}
	st, err := tx.db.conn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	tx.db.stmts[query] = st
	return st, nil
}

// The transaction's statements run under a context that never ends. A
// request whose context ends before its turn is left out; one that has
// begun runs to its end, since interrupting a statement would interrupt
// the connection that the whole batch shares, and since go-sqlite3 steps
// a statement in one call, on the writer's goroutine, only when its
// context cannot end.

func (tx *Tx) exec(query string, args ...any) (sql.Result, error) {
	st, err := tx.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

func (tx *Tx) queryRow(query string, args ...any) *sql.Row {
	st, err := tx.stmt(query)
	if err != nil {
		// QueryRow on a closed statement reports err at Scan.
		return tx.db.conn.QueryRowContext(context.Background(), query, args...)
	}
	return st.QueryRowContext(context.Background(), args...)
}

func (tx *Tx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := tx.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}

// Write is store.Store's Write: write with the transaction seen through
// the store.Tx interface.
func (db *DB) Write(ctx context.Context, fn func(store.Tx) error) error {
	return db.write(ctx, func(tx *Tx) error { return fn(tx) })
}
