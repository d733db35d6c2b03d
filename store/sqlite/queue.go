package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"pillarbox/store"
	"strconv"
	"time"
)

// queueGeneration names the counters row that changes with every queue
// change made by another process (the CLI), so that a running server can
// notice it with one cheap read. See Tx.TouchQueue.
const queueGeneration = "queue_generation"

// Due times (created and next_attempt) are stored in milliseconds since
// the epoch (migration 0007): in whole seconds, a retry step of one
// second could come due after only a fraction of it.

// Enqueue adds one queue row and returns its id.
func (tx *Tx) Enqueue(it store.NewQueueItem) (int64, error) {
	var acct any
	if it.AccountID != 0 {
		acct = it.AccountID
	}
	env := it.Params
	if env.Ret != "" && env.Ret != "FULL" && env.Ret != "HDRS" {
		return 0, fmt.Errorf("store: enqueue: RET %q", env.Ret)
	}
	res, err := tx.exec(`INSERT INTO queue(blob_id, account_id, sender, recipient, domain, created, next_attempt,
		dsn_ret, dsn_envid, dsn_notify, dsn_orcpt, require_tls)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, it.BlobID, acct, it.Sender, it.Recipient, it.Domain,
		it.Created.UnixMilli(), it.NextAttempt.UnixMilli(), env.Ret, env.EnvID, env.Notify, env.ORcpt, env.RequireTLS)
	if err != nil {
		return 0, fmt.Errorf("store: enqueue: %w", err)
	}
	return res.LastInsertId()
}

// QueueItem reads one queue row inside the transaction; ErrNotFound if
// it is gone.
func (tx *Tx) QueueItem(id int64) (store.QueueItem, error) {
	return scanQueueItem(tx.queryRow(queueItemQuery+` WHERE q.id = ?`, id), id)
}

// ClaimQueueItem records that an attempt starts: attempts grows by one
// and next_attempt moves to next, so that an attempt that never reports
// back (the process died) is retried at next like a deferral.
func (tx *Tx) ClaimQueueItem(id int64, next time.Time) error {
	res, err := tx.exec(`UPDATE queue SET attempts = attempts + 1, next_attempt = ? WHERE id = ?`, next.UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("store: claim queue item %d: %w", id, err)
	}
	return mustAffect(res, "queue item "+strconv.FormatInt(id, 10))
}

// RenewQueueLease implements store.Tx.
func (tx *Tx) RenewQueueLease(id int64, attempts int, from, to time.Time) error {
	res, err := tx.exec(`UPDATE queue SET next_attempt = ? WHERE id = ? AND state = 'queued' AND attempts = ? AND next_attempt = ?`,
		to.UnixMilli(), id, attempts, from.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: renew lease of queue item %d: %w", id, err)
	}
	return mustAffect(res, "queue item "+strconv.FormatInt(id, 10)+" as claimed")
}

// DeferQueueItem records a failed attempt of an item that stays queued:
// the attempt's row, the reply, the next attempt, and whether the sender
// has been warned of the delay. The state (queued or held) is kept.
func (tx *Tx) DeferQueueItem(id int64, a store.QueueAttempt, next time.Time, warned bool) error {
	res, err := tx.exec(`UPDATE queue SET next_attempt = ?, last_reply = ?, warned = warned OR ? WHERE id = ?`,
		next.UnixMilli(), a.Reply, warned, id)
	if err != nil {
		return fmt.Errorf("store: defer queue item %d: %w", id, err)
	}
	if err := mustAffect(res, "queue item "+strconv.FormatInt(id, 10)); err != nil {
		return err
	}
	return tx.addAttempt(id, a)
}

// RemoveQueueItem deletes a finished item (delivered, bounced or deleted
// by the operator) with its attempts; the blob goes with its last
// reference. ErrNotFound if it is already gone.
func (tx *Tx) RemoveQueueItem(id int64) error {
	res, err := tx.exec(`DELETE FROM queue WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: remove queue item %d: %w", id, err)
	}
	tx.housework++
	return mustAffect(res, "queue item "+strconv.FormatInt(id, 10))
}

// SetQueueState holds or releases an item. Releasing makes it due at
// now at the latest. ErrNotFound if there is no such item.
func (tx *Tx) SetQueueState(id int64, state string, now time.Time) error {
	if state != store.QueueQueued && state != store.QueueHeld {
		return fmt.Errorf("store: queue state %q", state)
	}
	q := `UPDATE queue SET state = ? WHERE id = ?`
	args := []any{state, id}
	if state == store.QueueQueued {
		q = `UPDATE queue SET state = ?, next_attempt = min(next_attempt, ?) WHERE id = ?`
		args = []any{state, now.UnixMilli(), id}
	}
	res, err := tx.exec(q, args...)
	if err != nil {
		return fmt.Errorf("store: queue item %d: %w", id, err)
	}
	return mustAffect(res, "queue item "+strconv.FormatInt(id, 10))
}

// RetryQueueItems makes queued items due at now: the one with the given
// id, or every queued item when id is 0. Held items are left alone.
// It returns how many items it changed.
func (tx *Tx) RetryQueueItems(id int64, now time.Time) (int, error) {
	// An item waiting for a later attempt counts the one made now as a
	// manual retry, not a step of the backoff (QueueItem.BackoffStep), so
	// that an operator's retry does not lengthen the waits after it. An
	// item already due (say, retried twice) counts nothing more.
	q := `UPDATE queue SET next_attempt = ?1,
		manual_retries = CASE WHEN next_attempt > ?1 AND manual_retries < attempts THEN manual_retries + 1 ELSE manual_retries END
		WHERE state = 'queued'`
	args := []any{now.UnixMilli()}
	if id != 0 {
		q += ` AND id = ?`
		args = append(args, id)
	}
	res, err := tx.exec(q, args...)
	if err != nil {
		return 0, fmt.Errorf("store: retry: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// TouchQueue bumps the queue generation, which a running scheduler reads
// once a second to notice changes made by another process.
func (tx *Tx) TouchQueue() error {
	return tx.bumpGeneration(queueGeneration)
}

func (tx *Tx) addAttempt(id int64, a store.QueueAttempt) error {
	_, err := tx.exec(`INSERT INTO queue_attempts(queue_id, at, remote, reply, tls) VALUES (?, ?, ?, ?, ?)`,
		id, a.At.Unix(), a.Remote, a.Reply, a.TLS)
	if err != nil {
		return fmt.Errorf("store: queue attempt: %w", err)
	}
	return nil
}

const queueItemQuery = `SELECT q.id, q.blob_id, coalesce(q.account_id, 0), q.sender, q.recipient, q.domain,
	q.state, q.attempts, q.created, q.next_attempt, q.last_reply, q.warned, b.message_id, b.size,
	q.dsn_ret, q.dsn_envid, q.dsn_notify, q.dsn_orcpt, q.require_tls, q.manual_retries
	FROM queue q JOIN blobs b ON b.id = q.blob_id`

// DueQueueItems returns up to limit queued (not held) items whose next
// attempt is at or before now, the earliest first.
func (db *DB) DueQueueItems(ctx context.Context, now time.Time, limit int) ([]store.QueueItem, error) {
	return db.queueItems(ctx, queueItemQuery+` WHERE q.state = 'queued' AND q.next_attempt <= ?
		ORDER BY q.next_attempt, q.id LIMIT ?`, now.UnixMilli(), limit)
}

// The scheduler's two queries, each a seek in queue_domain_due
// (TestQueueDomainQueriesUseIndex checks the plans).
const (
	nextDomainQuery = `SELECT domain, next_attempt FROM queue
		WHERE state = 'queued' AND domain > ? ORDER BY domain, next_attempt LIMIT 1`
	dueDomainQuery = queueItemQuery + ` WHERE q.state = 'queued' AND q.domain = ? AND q.next_attempt <= ?
		ORDER BY q.next_attempt, q.id LIMIT ?`
)

// NextQueueDomain returns the first destination domain after the given
// one, in byte order, that has a queued (not held) item, with the
// earliest next attempt among that domain's queued items; ok is false
// when there is none. It is one seek in the queue_domain_due index, so
// that the scheduler can walk the domains of a large queue without
// reading its items.
func (db *DB) NextQueueDomain(ctx context.Context, after string) (domain string, first time.Time, ok bool, err error) {
	var ms int64
	err = db.rdb.QueryRowContext(ctx, nextDomainQuery, after).Scan(&domain, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("store: next queue domain: %w", err)
	}
	return domain, time.UnixMilli(ms), true, nil
}

// DueDomainQueueItems returns up to limit queued items for one domain
// whose next attempt is at or before now, the earliest first.
func (db *DB) DueDomainQueueItems(ctx context.Context, domain string, now time.Time, limit int) ([]store.QueueItem, error) {
	return db.queueItems(ctx, dueDomainQuery, domain, now.UnixMilli(), limit)
}

// NextQueueAttempt returns the earliest next attempt of a queued item
// later than after; ok is false when there is none.
func (db *DB) NextQueueAttempt(ctx context.Context, after time.Time) (next time.Time, ok bool, err error) {
	var v sql.NullInt64
	err = db.rdb.QueryRowContext(ctx, `SELECT min(next_attempt) FROM queue
		WHERE state = 'queued' AND next_attempt > ?`, after.UnixMilli()).Scan(&v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next attempt: %w", err)
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(v.Int64), true, nil
}

// QueueItems lists the whole queue in order of id.
func (db *DB) QueueItems(ctx context.Context) ([]store.QueueItem, error) {
	return db.queueItems(ctx, queueItemQuery+` ORDER BY q.id`)
}

// QueueItem returns one item; ErrNotFound if there is none.
func (db *DB) QueueItem(ctx context.Context, id int64) (store.QueueItem, error) {
	return scanQueueItem(db.rdb.QueryRowContext(ctx, queueItemQuery+` WHERE q.id = ?`, id), id)
}

// QueueAttempts lists an item's attempts in order.
func (db *DB) QueueAttempts(ctx context.Context, id int64) ([]store.QueueAttempt, error) {
	rows, err := db.rdb.QueryContext(ctx, `SELECT at, remote, reply, tls FROM queue_attempts
		WHERE queue_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("store: queue attempts: %w", err)
	}
	defer rows.Close()
	var out []store.QueueAttempt
	for rows.Next() {
		var a store.QueueAttempt
		var at int64
		if err := rows.Scan(&at, &a.Remote, &a.Reply, &a.TLS); err != nil {
			return nil, fmt.Errorf("store: queue attempts: %w", err)
		}
		a.At = time.Unix(at, 0)
		out = append(out, a)
	}
	return out, rows.Err()
}

// QueueGeneration reads the counter that TouchQueue bumps; 0 before the
// first touch.
func (db *DB) QueueGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, queueGeneration)
}

func (db *DB) queueItems(ctx context.Context, query string, args ...any) ([]store.QueueItem, error) {
	rows, err := db.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: queue: %w", err)
	}
	defer rows.Close()
	var out []store.QueueItem
	for rows.Next() {
		it, err := scanQueueRow(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("store: queue: %w", err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: queue: %w", err)
	}
	return out, nil
}

func scanQueueItem(row *sql.Row, id int64) (store.QueueItem, error) {
	it, err := scanQueueRow(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return it, fmt.Errorf("store: queue item %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return it, fmt.Errorf("store: queue item %d: %w", id, err)
	}
	return it, nil
}

func scanQueueRow(scan func(...any) error) (store.QueueItem, error) {
	var it store.QueueItem
	var created, next int64
	err := scan(&it.ID, &it.BlobID, &it.AccountID, &it.Sender, &it.Recipient, &it.Domain, &it.State,
		&it.Attempts, &created, &next, &it.LastReply, &it.Warned, &it.MessageID, &it.Size,
		&it.Params.Ret, &it.Params.EnvID, &it.Params.Notify, &it.Params.ORcpt, &it.Params.RequireTLS, &it.ManualRetries)
	it.Created, it.NextAttempt = time.UnixMilli(created), time.UnixMilli(next)
	return it, err
}
