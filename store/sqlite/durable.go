package sqlite

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// A commit is made durable in two steps. The writer runs a batch and its
// COMMIT with synchronous=NORMAL: SQLite writes the batch's frames to the
// WAL and publishes them, without an fsync. The writer then runs the
// batch's OnCommit functions, releases its locks, answers the requests
// made with store.Early, and hands the others to the syncer goroutine,
// which fsyncs the WAL and answers them. While that fsync is under way
// (a millisecond and more under load, most of a commit's time before),
// the writer runs the next requests in a transaction it keeps open until
// the fsync ends (openBatch.extend): the fsync overlaps the next batch's
// work instead of stopping it, and the requests that arrive meanwhile,
// which would wait for the next fsync anyway, share one commit.
//
// Nothing is acknowledged before its fsync. WAL frames are written in
// order and checksummed in a chain, so after a crash SQLite recovers a
// prefix of the commits, and an fsync covers every frame written before
// it; checkpoints fsync the WAL before they copy it. A committed batch is
// visible to readers before it is durable, though: whatever tells the
// outside world what a read saw, or what an early write did, waits for
// AwaitCommit first (store/durable.go).

// syncing is a committed batch on its way to the syncer: its number among
// commits and the requests that wait for it to be durable.
type syncing struct {
	seq     uint64
	waiting []*request
}

// durability is the syncer's state shared with the writer and readers.
type durability struct {
	q    chan syncing  // the writer's committed batches, in order
	done chan struct{} // closed when the syncer has returned

	mu      sync.Mutex
	started uint64         // the last commit the fsync under way covers
	durable uint64         // every commit up to this one is fsynced
	wake    chan struct{}  // closed (and replaced) when an fsync ends
	err     error          // a failed fsync: every later write fails
	last    map[any]uint64 // the last commit that changed each key (LastCommit)

	wal *os.File // the WAL, opened by the syncer on its first fsync
	// sync, if set, replaces the fsync of the WAL. For tests.
	sync func() error
}

func (d *durability) init() {
	d.q = make(chan syncing, 256)
	d.done = make(chan struct{})
	d.wake = make(chan struct{})
	d.last = make(map[any]uint64)
}

// failure is the error of an earlier failed fsync, or nil.
func (d *durability) failure() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// syncer fsyncs the WAL once for the batches the writer committed while
// it was busy, and answers their waiting requests, until the writer
// closes the queue. Meanwhile the writer keeps its next transaction open
// for the requests that arrive (openBatch.extend).
func (db *DB) syncer() {
	d := &db.dur
	defer close(d.done)
	var group []syncing
	for first := range d.q {
		group = append(group[:0], first)
	more:
		for {
			select {
			case s, ok := <-d.q:
				if !ok {
					break more
				}
				group = append(group, s)
			default:
				break more
			}
		}
		upTo := group[len(group)-1].seq
		d.mu.Lock()
		d.started = upTo
		d.mu.Unlock()
		err := db.syncWAL()
		d.mu.Lock()
		if err != nil && d.err == nil {
			d.err = fmt.Errorf("store: the WAL could not be synced, so nothing is written until Pillarbox restarts: %w", err)
			db.log.Error("store: fsync failed", "err", err)
		}
		if err == nil {
			d.durable = upTo
		}
		close(d.wake)
		d.wake = make(chan struct{})
		err = d.err
		d.mu.Unlock()
		for _, s := range group {
			for _, r := range s.waiting {
				r.done <- err
			}
		}
	}
}

// syncWAL fsyncs the WAL file: every frame written before the call is
// then on disk. A failed fsync may have dropped the dirty pages it was
// to write, so once one fails the store does not try again.
func (db *DB) syncWAL() error {
	d := &db.dur
	if err := d.failure(); err != nil {
		return err
	}
	if d.sync != nil {
		return d.sync()
	}
	if d.wal == nil {
		f, err := os.Open(db.path + "-wal")
		if err != nil {
			return err
		}
		d.wal = f
	}
	return d.wal.Sync()
}

// Committed is store.Store's Committed.
func (db *DB) Committed() uint64 { return db.committing.Load() }

// LastCommit is store.Store's LastCommit.
func (db *DB) LastCommit(key any) uint64 {
	d := &db.dur
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := d.last[key]; n > d.durable {
		return n
	}
	return 0
}

// noteChanged records, before COMMIT publishes commit seq, the keys that
// it changes (the batch's Lock and touch keys). Entries for durable
// commits are dropped once the map grows.
func (db *DB) noteChanged(seq uint64, keys []any) {
	d := &db.dur
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.last) >= maxLastKeys {
		for k, n := range d.last {
			if n <= d.durable {
				delete(d.last, k)
			}
		}
	}
	for _, k := range keys {
		d.last[k] = seq
	}
}

// maxLastKeys is how many keys LastCommit remembers before it forgets
// those whose commits are durable.
const maxLastKeys = 4096

// AwaitCommit is store.Store's AwaitCommit.
func (db *DB) AwaitCommit(ctx context.Context, want uint64) error {
	d := &db.dur
	for {
		d.mu.Lock()
		durable, wake, err := d.durable, d.wake, d.err
		d.mu.Unlock()
		switch {
		case durable >= want:
			return nil
		case err != nil:
			return err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-d.done:
			// The syncer has finished: what is not durable now never
			// will be.
			d.mu.Lock()
			durable, err = d.durable, d.err
			d.mu.Unlock()
			if durable >= want {
				return nil
			}
			return cmp.Or(err, errors.New("store: closed before the commit was durable"))
		}
	}
}
