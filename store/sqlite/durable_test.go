package sqlite

import (
	"context"
	"errors"
	"fmt"
	"pillarbox/store"
	"sync"
	"testing"
	"time"
)

// heldSync is an Options.SyncWAL that holds every fsync until released,
// and can be made to fail.
type heldSync struct {
	calls   chan struct{} // one send per fsync begun
	release chan error    // what the fsync it lets go returns
	stop    chan struct{} // closed when the test ends: fsyncs pass
}

// openHeld opens a store whose fsyncs h holds; they pass once the test
// ends, before the store closes.
func openHeld(t *testing.T) (*DB, *heldSync) {
	h := &heldSync{calls: make(chan struct{}, 64), release: make(chan error), stop: make(chan struct{})}
	db := openTest(t, Options{SyncWAL: h.sync})
	t.Cleanup(func() { close(h.stop) })
	return db, h
}

func (h *heldSync) sync() error {
	h.calls <- struct{}{}
	select {
	case err := <-h.release:
		return err
	case <-h.stop:
		return nil
	}
}

// begun waits until an fsync has begun.
func (h *heldSync) begun(t *testing.T) {
	t.Helper()
	select {
	case <-h.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("no fsync began")
	}
}

// lockedWrite is a write that changes what key names, as mailbox's
// writers do with their folder's lock.
func lockedWrite(key any, name string) func(*Tx) error {
	var mu sync.Mutex
	return func(tx *Tx) error {
		tx.Lock(key, &mu)
		_, err := tx.CreateAccount(name, "h", testNow)
		return err
	}
}

func TestWriteAnsweredOnlyOnceDurable(t *testing.T) {
	t.Parallel()
	db, h := openHeld(t)
	done := make(chan error, 1)
	go func() { done <- db.write(context.Background(), lockedWrite(int64(7), "a@x.org")) }()
	h.begun(t)
	// Committed and visible, but not durable: the writer has not answered.
	var n int
	if err := db.rdb.QueryRow(`SELECT count(*) FROM accounts`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("accounts = %d, %v; want the commit visible", n, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Write returned %v before its fsync", err)
	case <-time.After(50 * time.Millisecond):
	}
	if got := db.LastCommit(int64(7)); got == 0 || got != db.Committed() {
		t.Errorf("LastCommit = %d, Committed = %d; want the commit not yet durable", got, db.Committed())
	}
	h.release <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := db.LastCommit(int64(7)); got != 0 {
		t.Errorf("LastCommit after the fsync = %d, want 0", got)
	}
}

func TestEarlyWriteAndAwaitCommit(t *testing.T) {
	t.Parallel()
	db, h := openHeld(t)
	var owed store.Owed
	ctx := store.Early(context.Background(), &owed)
	if err := db.write(ctx, lockedWrite(int64(9), "b@x.org")); err != nil {
		t.Fatal(err)
	}
	// Answered at COMMIT, with the commit noted.
	if owed.Load() == 0 || owed.Load() != db.LastCommit(int64(9)) {
		t.Fatalf("owed %d, LastCommit %d", owed.Load(), db.LastCommit(int64(9)))
	}
	if got := db.LastCommit(int64(8)); got != 0 {
		t.Errorf("LastCommit of a key the write did not name = %d, want 0", got)
	}
	h.begun(t)
	waited := make(chan error, 1)
	go func() { waited <- db.AwaitCommit(context.Background(), owed.Load()) }()
	select {
	case err := <-waited:
		t.Fatalf("AwaitCommit returned %v before the fsync", err)
	case <-time.After(50 * time.Millisecond):
	}
	h.release <- nil
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	// Nothing owed, nothing to wait for.
	if err := db.AwaitCommit(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
}

func TestFailedSyncStopsWrites(t *testing.T) {
	t.Parallel()
	db, h := openHeld(t)
	var owed store.Owed
	if err := db.write(store.Early(context.Background(), &owed), lockedWrite(int64(1), "c@x.org")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- db.write(context.Background(), lockedWrite(int64(2), "d@x.org")) }()
	h.begun(t)
	h.release <- errors.New("EIO")
	// The commit an fsync failed for is never acknowledged, to a waiting
	// writer or to an early one's AwaitCommit, and nothing is written
	// after it.
	if err := <-done; err == nil {
		t.Error("Write answered nil although its fsync failed")
	}
	if err := db.AwaitCommit(context.Background(), owed.Load()); err == nil {
		t.Error("AwaitCommit returned nil although the fsync failed")
	}
	if err := db.write(context.Background(), lockedWrite(int64(3), "e@x.org")); err == nil {
		t.Error("a write after a failed fsync succeeded")
	}
}

func TestWritesDuringFsyncShareACommit(t *testing.T) {
	t.Parallel()
	db, h := openHeld(t)
	first := make(chan error, 1)
	go func() { first <- db.write(context.Background(), lockedWrite(int64(1), "f@x.org")) }()
	h.begun(t)
	before := db.Stats().Commits
	// While that fsync is held, more writes arrive: they run at once, in
	// a transaction the writer keeps open until the fsync ends.
	const n = 5
	ran := make(chan struct{}, n)
	done := make(chan error, n)
	for i := range n {
		write := lockedWrite(int64(10+i), fmt.Sprintf("g%d@x.org", i))
		go func() {
			done <- db.write(context.Background(), func(tx *Tx) error {
				ran <- struct{}{}
				return write(tx)
			})
		}()
	}
	for range n {
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("a write did not run while the fsync was held")
		}
	}
	h.release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	h.begun(t) // the five writes' commit
	h.release <- nil
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := db.Stats().Commits - before; got != 1 {
		t.Errorf("%d commits for the writes made during one fsync, want 1", got)
	}
}
