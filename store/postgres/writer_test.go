package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// counterValue reads counters.value of name, 0 if absent.
func counterValue(t *testing.T, db *DB, name string) int64 {
	t.Helper()
	var v int64
	err := db.pool.QueryRow(context.Background(), `SELECT coalesce((SELECT value FROM counters WHERE name = $1), 0)`, name).Scan(&v)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func bump(name string) func(*Tx) error {
	return func(tx *Tx) error {
		_, err := tx.exec(`INSERT INTO counters(name, value) VALUES ($1, 1)
			ON CONFLICT (name) DO UPDATE SET value = counters.value + 1`, name)
		return err
	}
}

// Concurrent writes share commits, and one that fails or panics leaves
// nothing behind while the others of its batch commit.
func TestWriterBatchesIsolateFailures(t *testing.T) {
	db := openAt(t, pg.DB(t), -1)
	ctx := context.Background()
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.write(ctx, func(tx *Tx) error {
				if err := bump("ok")(tx); err != nil {
					return err
				}
				switch i % 8 {
				case 3:
					bump("failed")(tx)
					return errors.New("refused")
				case 5:
					bump("panicked")(tx)
					panic("boom")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	var failed int
	for i, err := range errs {
		switch i % 8 {
		case 3, 5:
			if err == nil {
				t.Errorf("write %d: no error", i)
			}
			failed++
		default:
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}
	}
	if got, want := counterValue(t, db, "ok"), int64(n-failed); got != want {
		t.Errorf("ok = %d, want %d", got, want)
	}
	if got := counterValue(t, db, "failed") + counterValue(t, db, "panicked"); got != 0 {
		t.Errorf("failed writes left %d changes", got)
	}
	st := db.Stats()
	if st.Requests != n {
		t.Errorf("requests = %d, want %d", st.Requests, n)
	}
	t.Logf("%d requests in %d commits", st.Requests, st.Commits)
}

// Two nodes taking two rows' locks in opposite orders deadlock; the
// writer of the aborted one runs its batch again, and both writes land.
func TestWriterRetriesDeadlock(t *testing.T) {
	dsn := pg.DB(t)
	ctx := context.Background()
	// PostgreSQL looks for deadlocks after deadlock_timeout (1 s by
	// default); a shorter one keeps the test short.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET deadlock_timeout = ''20ms''', current_database()); END $$`)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, b := openAt(t, dsn, -1), openAt(t, dsn, -1)
	for _, name := range []string{"x", "y"} {
		if err := a.write(ctx, bump(name)); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 5
	for round := range rounds {
		ready := make(chan struct{}, 2)
		var go2 sync.WaitGroup
		go2.Add(1)
		lockBoth := func(first, second string) func(*Tx) error {
			return func(tx *Tx) error {
				if err := bump(first)(tx); err != nil {
					return err
				}
				// The first run of each says it holds its first row; a
				// batch run again after the deadlock must not block here.
				select {
				case ready <- struct{}{}:
				default:
				}
				go2.Wait() // both hold their first row now
				return bump(second)(tx)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, db := range []*DB{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i == 0 {
					errs[i] = db.write(ctx, lockBoth("x", "y"))
				} else {
					errs[i] = db.write(ctx, lockBoth("y", "x"))
				}
			}()
		}
		<-ready
		<-ready
		go2.Done()
		wg.Wait()
		// A retried batch runs its function again, so ready may get a
		// third send; drain it.
		for len(ready) > 0 {
			<-ready
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, node %d: %v", round, i, err)
			}
		}
	}
	want := int64(1 + 2*rounds)
	for _, name := range []string{"x", "y"} {
		if got := counterValue(t, a, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if r := a.stats.retries.Load() + b.stats.retries.Load(); r == 0 {
		t.Error("no batch was retried: the test made no deadlock")
	} else {
		t.Logf("%d retries", r)
	}
}

// Two nodes' batches of two requests each, the first taking one row and
// the second the row the other batch's first holds, would deadlock. The
// second requests wait laterLockWait only: each is put off to its
// node's next batch, both batches commit, and nothing deadlocks (the
// database's deadlock_timeout is set far above the test's length).
func TestWriterPutsOffLaterRequestsInsteadOfDeadlocking(t *testing.T) {
	dsn := pg.DB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET deadlock_timeout = ''20s''', current_database()); END $$`)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, b := openAt(t, dsn, -1), openAt(t, dsn, -1)
	// Not through the writers: the test runs their batches itself, on
	// their one connection, which a writer keeps once it used it.
	if _, err := a.pool.Exec(ctx, `INSERT INTO counters(name, value) VALUES ('x', 1), ('y', 1)`); err != nil {
		t.Fatal(err)
	}
	// held[i] is closed once node i's first request holds its row.
	held := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	closeHeld := [2]func(){sync.OnceFunc(func() { close(held[0]) }), sync.OnceFunc(func() { close(held[1]) })}
	batch := func(node int, first, second string) []*request {
		return []*request{
			{ctx: ctx, done: make(chan error, 1), fn: func(tx *Tx) error {
				if err := bump(first)(tx); err != nil {
					return err
				}
				closeHeld[node]()
				return nil
			}},
			{ctx: ctx, done: make(chan error, 1), fn: func(tx *Tx) error {
				<-held[1-node] // the other node holds second
				return bump(second)(tx)
			}},
		}
	}
	batches := [2][]*request{batch(0, "x", "y"), batch(1, "y", "x")}
	var wg sync.WaitGroup
	for i, db := range []*DB{a, b} {
		wg.Go(func() {
			c, carry := db.commit(nil, batches[i])
			if len(carry) > 0 {
				c, carry = db.commit(c, carry)
			}
			if len(carry) > 0 {
				t.Errorf("node %d: requests put off twice", i)
			}
			if c != nil {
				c.Release()
			}
		})
	}
	wg.Wait()
	for i := range batches {
		for j, r := range batches[i] {
			select {
			case err := <-r.done:
				if err != nil {
					t.Errorf("node %d request %d: %v", i, j, err)
				}
			default:
				t.Errorf("node %d request %d was never answered", i, j)
			}
		}
	}
	if r := a.stats.retries.Load() + b.stats.retries.Load(); r != 0 {
		t.Errorf("%d batches ran again after a deadlock", r)
	}
	for _, name := range []string{"x", "y"} {
		if got := counterValue(t, a, name); got != 3 {
			t.Errorf("%s = %d, want 3", name, got)
		}
	}
}

// The writer commits with synchronous_commit on even where the database
// says off: a 250 means the commit reached the disk.
func TestWriterCommitsSynchronously(t *testing.T) {
	dsn := pg.DB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database()); END $$`)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db := openAt(t, dsn, -1)
	var got string
	if err := db.write(ctx, func(tx *Tx) error { return tx.queryRow(`SHOW synchronous_commit`).Scan(&got) }); err != nil {
		t.Fatal(err)
	}
	if got != "on" {
		t.Errorf("the writer commits with synchronous_commit = %s, want on", got)
	}
}

// The lock limit of a batch's later requests covers them, and not the
// COMMIT: a notifying COMMIT may wait for the database's notify lock as
// long as another node's commit holds it. The first request that runs
// after the first one has the limit, even when the second was cancelled
// before it ran.
func TestWriterLockLimitSpansLaterRequestsOnly(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	show := func(into *string) func(*Tx) error {
		return func(tx *Tx) error { return tx.queryRow(`SHOW lock_timeout`).Scan(into) }
	}
	var first, third, atCommit string
	db.beforeCommit = func(tx *Tx) {
		if err := tx.queryRow(`SHOW lock_timeout`).Scan(&atCommit); err != nil {
			t.Error(err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	batch := []*request{
		{ctx: ctx, done: make(chan error, 1), fn: show(&first)},
		{ctx: cancelled, done: make(chan error, 1), fn: func(*Tx) error { return nil }},
		{ctx: ctx, done: make(chan error, 1), fn: show(&third)},
	}
	c, carry := db.commit(nil, batch)
	if c != nil {
		c.Release()
	}
	if len(carry) != 0 {
		t.Fatalf("%d requests put off", len(carry))
	}
	for i, r := range batch {
		if err := <-r.done; (err != nil) != (i == 1) {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if first != "0" || third != laterLockWait || atCommit != "0" {
		t.Errorf("lock_timeout: first request %q, third (after a cancelled second) %q, at COMMIT %q; want 0, %s, 0",
			first, third, atCommit, laterLockWait)
	}
}
