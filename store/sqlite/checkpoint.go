package sqlite

import (
	"context"
	"database/sql"
	"net/url"
)

// walLimitPages bounds the WAL. Under continuous writes a PASSIVE
// checkpoint never quite catches up (new frames arrive while it copies),
// and SQLite only rewinds the WAL after one that did; past this size the
// writer runs a RESTART checkpoint itself between two batches, which does
// catch up because nothing else writes meanwhile.
const walLimitPages = 16384 // 64 MiB of 4 KiB pages

// The writer connection runs with wal_autocheckpoint off: SQLite would
// otherwise copy the WAL back into the database, and fsync it, inside
// whichever COMMIT crosses the threshold, stalling every caller of that
// batch. A checkpointer goroutine with its own connection does that work
// instead, on the other core, after commits that grew the WAL.
//
// PASSIVE checkpoints never block the writer or readers. The WAL is reset
// to its start by the first write after a checkpoint that copied all of
// it, so it stays about as large as what is written between two
// checkpoints.

// checkpointEvery is how many commits pass between two kicks of the
// checkpointer. Each WAL frame is copied once whatever the period; a
// shorter one keeps the WAL small and in cache, a longer one saves fsyncs
// of the database file.
const checkpointEvery = 32

func (db *DB) openCheckpointer(path string) error {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_synchronous", "FULL")
	cdb, err := sql.Open("sqlite3", "file:"+escapePath(path)+"?"+q.Encode())
	if err != nil {
		return err
	}
	cdb.SetMaxOpenConns(1)
	db.cdb = cdb
	db.ckpt = make(chan struct{}, 1)
	db.ckptDone = make(chan struct{})
	go db.checkpointer()
	return nil
}

// checkpointer runs PASSIVE checkpoints when kicked until Close.
func (db *DB) checkpointer() {
	defer close(db.ckptDone)
	ctx := context.Background()
	for {
		select {
		case <-db.ckpt:
		case <-db.quit:
			// A last full checkpoint leaves a small WAL behind.
			db.cdb.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
			return
		}
		var busy, logPages, done int
		if err := db.cdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &done); err != nil {
			db.log.Warn("store: checkpoint", "err", err)
			continue
		}
		if logPages > walLimitPages {
			db.walFull.Store(true)
		}
	}
}

// restartWALIfLong runs on the writer goroutine before a batch.
func (db *DB) restartWALIfLong(ctx context.Context) {
	if !db.walFull.Swap(false) {
		return
	}
	var busy, logPages, done int
	if err := db.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &logPages, &done); err != nil {
		db.log.Warn("store: restart checkpoint", "err", err)
	}
	db.stats.restarts.Add(1)
}

// noteCommit is called by the writer after each commit; every
// checkpointEvery commits it kicks the checkpointer.
func (db *DB) noteCommit() {
	db.sinceKick++
	if db.sinceKick < checkpointEvery {
		return
	}
	db.sinceKick = 0
	select {
	case db.ckpt <- struct{}{}:
	default:
	}
}
