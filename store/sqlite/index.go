package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"pillarbox/store"
	"sync"
	"time"
)

// indexBatch is how many messages' search text one indexer request moves
// into the full-text index: one FTS4 segment for all of them.
const indexBatch = 256

// When the indexer runs. Removed messages and new texts wait for it in
// different ways:
//
//   - Released blobs (what expunges and finished deliveries let go) are
//     removed at every run, which comes indexDelay (Options.IndexDelay)
//     after the first row of work since the last one, or sooner once
//     indexAfterRows rows of work are waiting.
//   - A new text is indexed at the first tick of the delay that finds it
//     already pending at the tick before: after one to two delays. Only
//     when more than indexAfterRows texts are pending does a run index
//     them all at once.
//
// Waiting is what makes the index cheap: a message expunged while its
// text is still pending leaves with its pending row, and the index never
// takes in its words nor has FTS4 take them out again (which derives them
// from the message once more, stageReleased). Mail read and deleted
// within seconds, as on a busy host, mostly never reaches the index; what
// stays is indexed a few seconds late, which SEARCH does not notice: it
// reads the pending texts too, checking each against its message, and
// the bound on them keeps that work small.
const (
	indexAfterRows = 1024
	indexDelay     = 2 * time.Second
)

// The indexer moves search text from blob_text_pending into the FTS4
// table blob_text in batches, through the writer like any other request,
// so it shares commits with deliveries and never blocks them for long.
// It also removes the blobs that expunges and finished deliveries
// released (blobs_released), many to a commit. It runs after commits that
// left it such work; Open does what a crash left over before it returns.

func (db *DB) startIndexer() {
	db.idx = make(chan struct{}, 1)
	db.idxTick = make(chan struct{}, 1)
	db.idxTimer = time.AfterFunc(time.Hour, func() {
		db.idxArmed.Store(false)
		select {
		case db.idxTick <- struct{}{}:
		default:
		}
	})
	db.idxTimer.Stop()
	db.idxStop = make(chan struct{})
	db.idxDone = make(chan struct{})
	go db.indexer()
}

// stopIndexer stops the indexer and waits for it; later calls do nothing.
func (db *DB) stopIndexer() {
	db.idxOnce.Do(func() { close(db.idxStop) })
	<-db.idxDone
}

func (db *DB) kickIndexer() {
	select {
	case db.idx <- struct{}{}:
	default:
	}
}

// armIndexer starts the delay unless it runs already: later work does not
// push a tick back.
func (db *DB) armIndexer() {
	if db.idxArmed.CompareAndSwap(false, true) {
		db.idxTimer.Reset(db.idxDelay)
	}
}

// notePending runs on the writer goroutine after a commit that left n
// rows of work for the indexer.
func (db *DB) notePending(n int) {
	if n == 0 {
		return
	}
	db.pendingRows += n
	if db.pendingRows >= indexAfterRows {
		db.pendingRows = 0
		db.kickIndexer()
	}
	db.armIndexer()
}

func (db *DB) indexer() {
	defer close(db.idxDone)
	ctx := context.Background()
	// mark is the newest text that was pending at the last tick: the
	// texts up to it have waited a whole delay at the next one.
	var mark int64
	for {
		tick := false
		select {
		case <-db.idx:
		case <-db.idxTick:
			tick = true
		case <-db.idxStop:
			db.idxTimer.Stop()
			return
		}
		newest, err := db.indexRun(ctx, mark, tick)
		if err != nil {
			if err != store.ErrClosed {
				// Tried again after the delay: the work is still there,
				// and released blobs hold disk space until it is done.
				db.log.Warn("store: indexing search text", "err", err)
				db.armIndexer()
			}
			continue
		}
		if tick {
			mark = newest
		}
	}
}

// indexRun is one run of the indexer: it removes the released blobs and
// indexes the pending texts up to mark if tick is set, or all of them if
// there are too many. It returns the newest text pending when it began,
// and arms the next tick for those it leaves.
func (db *DB) indexRun(ctx context.Context, mark int64, tick bool) (int64, error) {
	if n := db.idxFail.Load(); n > 0 && db.idxFail.CompareAndSwap(n, n-1) {
		return 0, errors.New("store: index: a failure made by a test")
	}
	if err := db.removeAllReleased(ctx); err != nil {
		return 0, err
	}
	var count, newest int64
	if err := db.rdb.QueryRowContext(ctx, `SELECT count(*), coalesce(max(blob_id), 0) FROM blob_text_pending`).Scan(&count, &newest); err != nil {
		return 0, fmt.Errorf("store: index: %w", err)
	}
	upTo := int64(0)
	switch {
	case count > indexAfterRows:
		upTo = newest
	case tick:
		upTo = mark
	}
	if upTo > 0 {
		if err := db.indexUpTo(ctx, upTo); err != nil {
			return 0, err
		}
	}
	if newest > upTo {
		db.armIndexer()
	}
	return newest, nil
}

// FlushIndex does now what the indexer does over time: it removes the
// blobs released since (and their words), then indexes every pending
// search text. SEARCH does not need it (it reads pending text too); tests
// use it.
func (db *DB) FlushIndex(ctx context.Context) error { return db.flushIndex(ctx, true) }

// flushIndex is FlushIndex, which leaves the released blobs as they are
// unless remove is set.
func (db *DB) flushIndex(ctx context.Context, remove bool) error {
	if remove {
		if err := db.removeAllReleased(ctx); err != nil {
			return err
		}
	}
	return db.indexUpTo(ctx, math.MaxInt64)
}

// removeAllReleased removes the released blobs, indexBatch to a write.
func (db *DB) removeAllReleased(ctx context.Context) error {
	for {
		released, staged, err := db.stageReleased(ctx, indexBatch)
		if err != nil || len(released) == 0 {
			return err
		}
		err = db.write(ctx, func(tx *Tx) error { return tx.removeReleased(released) })
		db.staged.drop(staged)
		if err != nil {
			return err
		}
	}
}

// indexUpTo indexes the pending texts of blobs up to upTo, indexBatch to
// a write.
func (db *DB) indexUpTo(ctx context.Context, upTo int64) error {
	for {
		var work bool
		if err := db.rdb.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blob_text_pending WHERE blob_id <= ?)`, upTo).Scan(&work); err != nil {
			return fmt.Errorf("store: index: %w", err)
		}
		if !work {
			return nil
		}
		var n int64
		err := db.write(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.indexPending(indexBatch, upTo)
			return err
		})
		if err != nil || n < indexBatch {
			return err
		}
	}
}

// stagedTerms is the index text of blobs that the indexer is about to
// remove, which it derives on its own goroutine beforehand: FTS4 reads it
// back (the view blob_index_text, migration 0023) inside the write that
// removes them, where deriving it would hold up every other write.
type stagedTerms struct {
	mu    sync.Mutex
	terms map[int64]string
}

func (s *stagedTerms) get(id int64) (string, bool) {
	if s == nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.terms[id]
	return t, ok
}

func (s *stagedTerms) put(id int64, terms string) {
	s.mu.Lock()
	s.terms[id] = terms
	s.mu.Unlock()
}

func (s *stagedTerms) drop(ids []int64) {
	s.mu.Lock()
	for _, id := range ids {
		delete(s.terms, id)
	}
	s.mu.Unlock()
}

// stageReleased takes the first limit released blobs, which the next
// removal removes, and derives the index text of those that are indexed,
// one message in memory at a time, staging it for the removal. It returns
// the released blobs and the staged ones.
func (db *DB) stageReleased(ctx context.Context, limit int) (released, staged []int64, err error) {
	rows, err := db.rdb.QueryContext(ctx, `SELECT r.blob_id,
		CASE WHEN NOT EXISTS (SELECT 1 FROM blob_text_pending p WHERE p.blob_id = r.blob_id) THEN b.data END,
		coalesce(b.text_version, 0)
		FROM (SELECT blob_id FROM blobs_released ORDER BY blob_id LIMIT ?) r LEFT JOIN blobs b ON b.id = r.blob_id`, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("store: index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, version int64
		var data []byte
		if err := rows.Scan(&id, &data, &version); err != nil {
			db.staged.drop(staged)
			return nil, nil, fmt.Errorf("store: index: %w", err)
		}
		released = append(released, id)
		if data != nil {
			db.staged.put(id, indexText(db.searchText, data, version))
			staged = append(staged, id)
		}
	}
	if err := rows.Err(); err != nil {
		db.staged.drop(staged)
		return nil, nil, fmt.Errorf("store: index: %w", err)
	}
	return released, staged, nil
}

// firstReleased returns the first limit blobs noted as released.
func (tx *Tx) firstReleased(limit int) ([]int64, error) {
	rows, err := tx.query(`SELECT blob_id FROM blobs_released ORDER BY blob_id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: remove released blobs: %w", err)
	}
	return column[int64](rows, "remove released blobs")
}

// removeReleased removes the blobs ids that the triggers noted as released
// (migration 0022) and that nothing refers to still, with their words in
// the full-text index (trigger blobs_release_text) and their rows in the
// tables that describe them, and forgets the notes. Released blobs go
// before pending text is indexed, so a message expunged soon after
// delivery is never indexed at all.
func (tx *Tx) removeReleased(ids []int64) error {
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	if _, err := tx.exec(`DELETE FROM blobs WHERE id IN (SELECT value FROM json_each(?1))
		AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = blobs.id)
		AND NOT EXISTS (SELECT 1 FROM queue WHERE blob_id = blobs.id)`, string(list)); err != nil {
		return fmt.Errorf("store: remove released blobs: %w", err)
	}
	if _, err := tx.exec(`DELETE FROM blobs_released WHERE blob_id IN (SELECT value FROM json_each(?))`, string(list)); err != nil {
		return fmt.Errorf("store: remove released blobs: %w", err)
	}
	return nil
}

// indexPending moves up to limit rows of pending text, of blobs up to
// upTo, into blob_text.
func (tx *Tx) indexPending(limit int, upTo int64) (int64, error) {
	var last int64
	err := tx.queryRow(`SELECT coalesce(max(blob_id), 0) FROM
		(SELECT blob_id FROM blob_text_pending WHERE blob_id <= ? ORDER BY blob_id LIMIT ?)`, upTo, limit).Scan(&last)
	if err != nil || last == 0 {
		return 0, err
	}
	if err := tx.addIndexPieces(last); err != nil {
		return 0, err
	}
	if _, err := tx.exec(`INSERT INTO blob_text(docid, terms)
		SELECT blob_id, `+fnIndexJoin+`(header, body) FROM blob_text_pending WHERE blob_id <= ?`, last); err != nil {
		return 0, fmt.Errorf("store: index: %w", err)
	}
	res, err := tx.exec(`DELETE FROM blob_text_pending WHERE blob_id <= ?`, last)
	if err != nil {
		return 0, fmt.Errorf("store: index: %w", err)
	}
	return res.RowsAffected()
}

// CheckIndex indexes every pending text and runs FTS4's integrity check,
// which compares the whole full-text index with the words the search text
// function derives from every stored message: an error means that they
// differ (a removed blob left words behind, or the function does not give
// what delivery stored). It reads every message; for tests and repairs.
func (db *DB) CheckIndex(ctx context.Context) error {
	return db.write(ctx, func(tx *Tx) error {
		for {
			ids, err := tx.firstReleased(indexBatch)
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				break
			}
			if err := tx.removeReleased(ids); err != nil {
				return err
			}
		}
		for {
			n, err := tx.indexPending(indexBatch, math.MaxInt64)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
		if _, err := tx.exec(`INSERT INTO blob_text(blob_text) VALUES ('integrity-check')`); err != nil {
			return fmt.Errorf("store: index check: %w", err)
		}
		return nil
	})
}
