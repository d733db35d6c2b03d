package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"pillarbox/store"
	"runtime"
	"runtime/debug"
	"slices"
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
	keys     []any // what the batch changes: Lock's keys and touch's

	// housework counts the rows the batch left for the indexer: texts it
	// added to blob_text_pending, messages and queue items it removed
	// (whose blobs the triggers may have noted in blobs_released).
	housework int
}

// OnCommit registers f to run on the writer goroutine once the
// transaction is committed, in the order of registration across the
// whole batch, before any lock taken with Lock is released. The commit
// may not be durable yet (durable.go): what f tells reaches a client
// only through a writer that waits for AwaitCommit. If the request
// fails or the commit fails, f never runs.
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
	tx.touch(key)
}

// touch records that the transaction changes what key names, for
// LastCommit, without a lock.
func (tx *Tx) touch(key any) {
	if !slices.Contains(tx.keys, key) {
		tx.keys = append(tx.keys, key)
	}
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
	go db.syncer()
	// The syncer answers what was committed before the writer returns.
	defer func() { close(db.dur.q); <-db.dur.done }()
	store.GroupCommit(db.reqs, db.quit, db.max, func(batch []*request) []*request {
		db.commit(batch)
		return nil
	})
}

// commit runs one batch in one transaction, runs its OnCommit functions,
// answers the requests made with store.Early and hands the others to the
// syncer, which answers them once the commit is durable (durable.go). A
// batch that commits nothing is answered here.
func (db *DB) commit(batch []*request) {
	ctx := context.Background()
	b := &openBatch{db: db, tx: &Tx{db: db, locks: make(map[any]sync.Locker)}, reqs: batch, results: make([]error, len(batch))}
	if err := db.dur.failure(); err != nil {
		b.answer(err)
		return
	}
	db.restartWALIfLong(ctx)
	began := time.Now()
	if _, err := db.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		b.answer(fmt.Errorf("store: begin: %w", err))
		return
	}
	// A request of a batch of one needs no savepoint: if it fails, the
	// transaction is rolled back whole.
	bare := len(batch) == 1
	for i := range batch {
		if err := b.run(i, bare); err != nil {
			db.rollback()
			b.answer(err)
			return
		}
	}
	if b.ok > 0 {
		if err := b.extend(); err != nil {
			db.rollback()
			b.answer(err)
			return
		}
	}
	if b.ok == 0 {
		db.rollback()
		b.answer(nil)
		return
	}
	// The batch takes its number, and names what it changes, before
	// COMMIT publishes it: a read that sees it finds it in Committed and
	// LastCommit afterwards.
	seq := db.committing.Add(1)
	db.noteChanged(seq, b.tx.keys)
	if _, err := db.conn.ExecContext(ctx, "COMMIT"); err != nil {
		// A failed COMMIT (disk full, I/O error) may leave the transaction
		// open on the connection: end it so the next batch starts clean.
		db.rollback()
		db.log.Error("store: commit failed", "err", err, "requests", len(b.reqs))
		b.tx.onCommit = nil
		b.answer(fmt.Errorf("store: commit: %w", err))
		db.dur.q <- syncing{seq: seq}
		return
	}
	db.stats.commits.Add(1)
	if db.observe != nil {
		db.observe(len(b.reqs), time.Since(began))
	}
	db.noteCommit()
	db.notePending(b.tx.housework)
	for _, f := range b.tx.onCommit {
		f()
	}
	b.tx.unlock()
	db.stats.requests.Add(uint64(len(b.reqs)))
	s := syncing{seq: seq}
	for i, r := range b.reqs {
		if b.results[i] != nil {
			r.done <- b.results[i]
		} else if o := store.OwedOf(r.ctx); o != nil {
			o.Note(seq)
			r.done <- nil
		} else {
			s.waiting = append(s.waiting, r)
		}
	}
	db.dur.q <- s
	// Let the goroutines this commit made runnable have the writer's P
	// before the writer takes it into SQLite for the next batch: the
	// syncer, whose fsync of this commit would otherwise start only when
	// the Go scheduler takes the P back from that cgo call (about a
	// millisecond under load, during which the next batch commits apart
	// instead of joining this one's fsync), and the sessions answered
	// early, whose next requests then join the next batch.
	runtime.Gosched()
}

// openBatch is the batch in the writer's open transaction.
type openBatch struct {
	db      *DB
	tx      *Tx
	reqs    []*request
	results []error
	ok      int // requests that succeeded
}

// run runs request i in the open transaction, inside a savepoint unless
// bare. The request's own failure is its result; an error means the
// transaction can no longer be used.
func (b *openBatch) run(i int, bare bool) error {
	ctx := context.Background()
	r, tx := b.reqs[i], b.tx
	if err := r.ctx.Err(); err != nil {
		b.results[i] = err
		return nil
	}
	if bare {
		if err := callSafely(r.fn, tx); err != nil {
			b.results[i] = classify(err)
		} else {
			b.ok++
		}
		return nil
	}
	if _, err := b.db.conn.ExecContext(ctx, "SAVEPOINT req"); err != nil {
		return fmt.Errorf("store: savepoint: %w", err)
	}
	mark := len(tx.onCommit)
	if err := callSafely(r.fn, tx); err != nil {
		b.results[i] = classify(err)
		tx.onCommit = tx.onCommit[:mark]
		if _, err := b.db.conn.ExecContext(ctx, "ROLLBACK TO req"); err != nil {
			return fmt.Errorf("store: rollback to savepoint: %w", err)
		}
	} else {
		b.ok++
	}
	if _, err := b.db.conn.ExecContext(ctx, "RELEASE req"); err != nil {
		return fmt.Errorf("store: release savepoint: %w", err)
	}
	return nil
}

// extend adds to the open transaction the requests that arrive while an
// fsync is under way, until it ends: they would wait for the next fsync
// anyway, and share one commit instead of making one each.
func (b *openBatch) extend() error {
	d := &b.db.dur
	for len(b.reqs) < b.db.max {
		d.mu.Lock()
		busy, wake := d.started > d.durable && d.err == nil, d.wake
		d.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case r := <-b.db.reqs:
			b.reqs = append(b.reqs, r)
			b.results = append(b.results, nil)
			if err := b.run(len(b.reqs)-1, false); err != nil {
				return err
			}
		case <-wake:
		case <-b.db.quit:
			return nil
		}
	}
	return nil
}

// answer gives err to every request without a result of its own,
// releases the batch's locks and answers every request: for a batch that
// commits nothing.
func (b *openBatch) answer(err error) {
	err = classify(err)
	for i := range b.results {
		if b.results[i] == nil {
			b.results[i] = err
		}
	}
	b.tx.unlock()
	b.db.stats.requests.Add(uint64(len(b.reqs)))
	for i, r := range b.reqs {
		r.done <- b.results[i]
	}
}

// unlock releases the batch's locks, the last taken first.
func (tx *Tx) unlock() {
	for i := len(tx.order) - 1; i >= 0; i-- {
		tx.order[i].Unlock()
	}
	tx.order = nil
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
