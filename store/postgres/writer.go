package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"pillarbox/store"
)

// The writer is the SQLite store's group commit, kept for PostgreSQL:
// one goroutine per node takes every queued Write, runs them in one
// transaction on its own connection, each inside a savepoint when there
// are several, and commits once. PostgreSQL's commit waits for its WAL
// flush (synchronous_commit = on), so that one flush serves the batch.
//
// Nodes do not coordinate: two nodes' writers changing one mailbox
// serialise on the mailbox row's lock. Two batches could deadlock, each
// holding a row (of an earlier request) that the other wants: so only a
// batch's first request waits for locks as long as it takes; the others
// wait at most laterLockWait, and one that waits longer is rolled back
// to its savepoint and carried to the next batch, where it comes first.
// A deadlock that remains (one request taking two mailboxes against
// another node's order) aborts one batch after PostgreSQL's
// deadlock_timeout; the writer then runs the whole batch again, as
// nothing of it was committed.

// laterLockWait is lock_timeout for the requests of a batch after its
// first: far longer than another node's writer holds a mailbox for a
// batch, far shorter than PostgreSQL's deadlock_timeout (1 s).
const laterLockWait = "100ms"

// maxRetries bounds how often a batch aborted by a deadlock or a
// serialization failure runs again before its requests get the error.
const maxRetries = 5

type stats struct{ requests, commits, retries atomic.Uint64 }

// Stats reports how many write requests the writer has answered and in
// how many commits.
func (db *DB) Stats() store.Stats {
	return store.Stats{Requests: db.stats.requests.Load(), Commits: db.stats.commits.Load()}
}

// request is one caller's unit of work for the writer.
type request struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
}

// Tx is the transaction handed to a Write function, valid only during
// that call, on the writer goroutine.
type Tx struct {
	db       *DB
	ctx      context.Context
	tx       pgx.Tx
	onCommit []func()
	locks    map[any]sync.Locker
	order    []sync.Locker
	// touched are the mailboxes whose messages the batch changed, for
	// the change feed's NOTIFY (feed.go).
	touched map[int64]struct{}
}

// OnCommit registers f to run on the writer goroutine once the
// transaction is durably committed, in registration order across the
// batch, before the locks taken with Lock are released. If the request
// fails or the commit fails, f never runs.
func (tx *Tx) OnCommit(f func()) { tx.onCommit = append(tx.onCommit, f) }

// Lock acquires l once per key and batch, and holds it until the batch
// has committed and its OnCommit functions have run (see store.Tx).
func (tx *Tx) Lock(key any, l sync.Locker) {
	if _, ok := tx.locks[key]; ok {
		return
	}
	l.Lock()
	tx.locks[key] = l
	tx.order = append(tx.order, l)
}

// write queues fn for the writer and waits for its outcome.
func (db *DB) write(ctx context.Context, fn func(*Tx) error) error {
	req := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
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
	// A queued request is always answered, so the caller learns the truth
	// even if ctx ends meanwhile.
	return <-req.done
}

func (db *DB) run() {
	defer close(db.exited)
	var conn *pgxpool.Conn
	defer func() {
		if conn != nil {
			conn.Release()
		}
	}()
	// Requests a batch puts off (laterLockWait) come first in the next.
	store.GroupCommit(db.reqs, db.quit, db.max, func(batch []*request) (carry []*request) {
		conn, carry = db.commit(conn, batch)
		return carry
	})
}

// commit runs one batch, again after a deadlock, and answers every
// request but those it puts off (carry, in order), which the next batch
// runs first. It returns the connection to use next (nil after a broken
// one).
func (db *DB) commit(conn *pgxpool.Conn, batch []*request) (_ *pgxpool.Conn, carry []*request) {
	tx := &Tx{db: db, locks: make(map[any]sync.Locker), touched: make(map[int64]struct{})}
	results := make([]error, len(batch))
	later := make([]bool, len(batch))
	defer func() {
		for i := len(tx.order) - 1; i >= 0; i-- {
			tx.order[i].Unlock()
		}
		for i, r := range batch {
			if later[i] {
				carry = append(carry, r)
				continue
			}
			db.stats.requests.Add(1)
			r.done <- results[i]
		}
	}()
	for attempt := 0; ; attempt++ {
		if conn == nil {
			c, err := db.wpool.Acquire(context.Background())
			if err != nil {
				fillErr(results, fmt.Errorf("store: writer connection: %w", err))
				return nil, carry
			}
			conn = c
		}
		clear(results)
		clear(later)
		tx.onCommit = tx.onCommit[:0]
		clear(tx.touched)
		began := time.Now()
		ok, err := db.runBatch(conn, tx, batch, results, later)
		if conn.Conn().IsClosed() && attempt < maxRetries {
			// The connection died (a server restart, an idle timeout)
			// before COMMIT was sent: nothing of the batch is committed,
			// so it runs again on a new one.
			conn.Release()
			conn = nil
			db.stats.retries.Add(1)
			continue
		}
		if err == nil && ok == 0 {
			tx.tx.Rollback(context.Background())
			return conn, carry
		}
		if err == nil {
			err = tx.notifyTouched()
		}
		if err == nil {
			err = tx.tx.Commit(context.Background())
		}
		if err == nil {
			db.stats.commits.Add(1)
			if db.observe != nil {
				db.observe(len(batch), time.Since(began))
			}
			for _, f := range tx.onCommit {
				f()
			}
			return conn, carry
		}
		if tx.tx != nil {
			tx.tx.Rollback(context.Background())
		}
		if conn.Conn().IsClosed() {
			conn.Release()
			conn = nil
		}
		if retryable(err) && attempt < maxRetries {
			db.stats.retries.Add(1)
			continue
		}
		db.log.Error("store: commit failed", "err", err, "requests", len(batch))
		fillErr(results, classify(err))
		return conn, carry
	}
}

// runBatch runs the batch's requests in a new transaction, each in a
// savepoint unless it is alone, filling results. It returns how many
// succeeded, and an error that ends the whole transaction: a broken
// connection, or a deadlock or serialization failure, after which the
// batch runs again.
func (db *DB) runBatch(conn *pgxpool.Conn, tx *Tx, batch []*request, results []error, later []bool) (int, error) {
	ctx := context.Background()
	t, err := conn.Begin(ctx)
	if err != nil {
		tx.tx = nil
		return 0, fmt.Errorf("store: begin: %w", err)
	}
	tx.tx = t
	alone := len(batch) == 1
	ok := 0
	limited := false // lock_timeout is laterLockWait
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if i > 0 && !limited {
			if _, err := t.Exec(ctx, "SET LOCAL lock_timeout = '"+laterLockWait+"'"); err != nil {
				return 0, fmt.Errorf("store: lock_timeout: %w", err)
			}
			limited = true
		}
		// Statements run without the caller's cancellation: pgx answers a
		// cancelled query by closing the connection, which every request
		// of the batch shares.
		tx.ctx = context.WithoutCancel(r.ctx)
		if alone {
			err := callSafely(r.fn, tx)
			tx.ctx = ctx
			if retryable(err) {
				return 0, err
			}
			if err != nil {
				results[i] = classify(err)
				return 0, nil
			}
			return 1, nil
		}
		sp, err := t.Begin(ctx)
		if err != nil {
			return 0, fmt.Errorf("store: savepoint: %w", err)
		}
		mark := len(tx.onCommit)
		err = callSafely(r.fn, tx)
		tx.ctx = ctx
		if retryable(err) {
			return 0, err
		}
		if err != nil {
			tx.onCommit = tx.onCommit[:mark]
			if rerr := sp.Rollback(ctx); rerr != nil {
				return 0, fmt.Errorf("store: rollback to savepoint: %w", rerr)
			}
			if lockTimedOut(err) {
				later[i] = true // another node holds what it waits for
				continue
			}
			results[i] = classify(err)
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return 0, fmt.Errorf("store: release savepoint: %w", err)
		}
		ok++
	}
	if limited {
		// Not for COMMIT: a transaction that notifies waits at COMMIT for
		// the database's one notify lock, which every other node's
		// notifying commit holds through its flush. Timing out there
		// would fail every request of the batch.
		if _, err := t.Exec(ctx, "SET LOCAL lock_timeout = 0"); err != nil {
			return 0, fmt.Errorf("store: lock_timeout: %w", err)
		}
	}
	if db.beforeCommit != nil {
		db.beforeCommit(tx)
	}
	return ok, nil
}

// fillErr sets err as the result of every request that has none.
func fillErr(results []error, err error) {
	for i := range results {
		if results[i] == nil {
			results[i] = err
		}
	}
}

// callSafely runs fn, turning a panic into an error so that one bad
// request cannot take the writer down.
func callSafely(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: panic in write: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(tx)
}

// retryable reports whether err aborted the transaction for a reason
// that running it again may not meet: a deadlock with another node's
// writer, or a serialization failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// lockTimedOut reports whether err is lock_timeout's (lock_not_available).
func lockTimedOut(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// classify maps PostgreSQL's errors to the store's: a unique violation
// is ErrExists, a full disk ErrFull.
func classify(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505":
		return fmt.Errorf("%w: %w", store.ErrExists, err)
	case "53100":
		return fmt.Errorf("%w: %w", store.ErrFull, err)
	}
	return err
}

func (tx *Tx) exec(query string, args ...any) (pgconn.CommandTag, error) {
	return tx.tx.Exec(tx.ctx, query, args...)
}

func (tx *Tx) queryRow(query string, args ...any) pgx.Row {
	return tx.tx.QueryRow(tx.ctx, query, args...)
}

func (tx *Tx) query(query string, args ...any) (pgx.Rows, error) {
	return tx.tx.Query(tx.ctx, query, args...)
}
