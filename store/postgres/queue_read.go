package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

const queueItemQuery = `SELECT q.id, q.blob_id, coalesce(q.account_id, 0), q.sender, q.recipient, q.domain,
	q.state, q.attempts, q.created, q.next_attempt, q.last_reply, q.warned, b.message_id, b.size,
	q.dsn_ret, q.dsn_envid, q.dsn_notify, q.dsn_orcpt, q.require_tls, q.manual_retries
	FROM queue q JOIN blobs b ON b.id = q.blob_id`

// The scheduler's queries, each a range of queue_domain_due
// (TestQueueDomainQueriesUseIndex checks the plans).
const (
	queueNextDomainQuery = `SELECT domain, next_attempt FROM queue
		WHERE state = 'queued' AND domain > $1 ORDER BY domain, next_attempt LIMIT 1`
	queueDueDomainQuery = queueItemQuery + ` WHERE q.state = 'queued' AND q.domain = $1 AND q.next_attempt <= $2
		ORDER BY q.next_attempt, q.id LIMIT $3`
	queueDueQuery = queueItemQuery + ` WHERE q.state = 'queued' AND q.next_attempt <= $1
		ORDER BY q.next_attempt, q.id LIMIT $2`
)

// DueQueueItems returns up to limit queued (not held) items whose next
// attempt is at or before now, the earliest first. This node remembers
// them for ClaimQueueItem (queue_claim.go).
func (db *DB) DueQueueItems(ctx context.Context, now time.Time, limit int) ([]store.QueueItem, error) {
	items, err := db.queueItems(ctx, queueDueQuery, now.UnixMilli(), limit)
	db.reads.remember(items)
	return items, err
}

// DueDomainQueueItems returns up to limit queued items for one domain
// whose next attempt is at or before now, the earliest first. This node
// remembers them for ClaimQueueItem.
func (db *DB) DueDomainQueueItems(ctx context.Context, domain string, now time.Time, limit int) ([]store.QueueItem, error) {
	items, err := db.queueItems(ctx, queueDueDomainQuery, domain, now.UnixMilli(), limit)
	db.reads.remember(items)
	return items, err
}

// NextQueueDomain returns the first destination domain after the given
// one, in byte order, that has a queued (not held) item, with the
// earliest next attempt among that domain's queued items; ok is false
// when there is none. It is one range of the queue_domain_due index, so
// that the scheduler can walk the domains of a large queue without
// reading its items. The order is the column's collation: byte order in
// a database created without a locale (as pgtest's). Under another
// collation the relay's wrap-around test, a byte comparison in Go, may
// end a lap of the walk early or late; queue.domain would need COLLATE
// "C" (a migration) to make that hold for every database.
func (db *DB) NextQueueDomain(ctx context.Context, after string) (domain string, first time.Time, ok bool, err error) {
	var ms int64
	err = db.pool.QueryRow(ctx, queueNextDomainQuery, after).Scan(&domain, &ms)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("store: next queue domain: %w", err)
	}
	return domain, time.UnixMilli(ms), true, nil
}

// NextQueueAttempt returns the earliest next attempt of a queued item
// later than after; ok is false when there is none.
func (db *DB) NextQueueAttempt(ctx context.Context, after time.Time) (next time.Time, ok bool, err error) {
	var v *int64
	err = db.pool.QueryRow(ctx, `SELECT min(next_attempt) FROM queue
		WHERE state = 'queued' AND next_attempt > $1`, after.UnixMilli()).Scan(&v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next attempt: %w", err)
	}
	if v == nil {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(*v), true, nil
}

// QueueItems lists the whole queue in order of id.
func (db *DB) QueueItems(ctx context.Context) ([]store.QueueItem, error) {
	return db.queueItems(ctx, queueItemQuery+` ORDER BY q.id`)
}

// QueueItem returns one item; ErrNotFound if there is none.
func (db *DB) QueueItem(ctx context.Context, id int64) (store.QueueItem, error) {
	return queueScanItem(db.pool.QueryRow(ctx, queueItemQuery+` WHERE q.id = $1`, id), id)
}

// QueueAttempts lists an item's attempts in order.
func (db *DB) QueueAttempts(ctx context.Context, id int64) ([]store.QueueAttempt, error) {
	rows, err := db.pool.Query(ctx, `SELECT at, remote, reply, tls FROM queue_attempts
		WHERE queue_id = $1 ORDER BY id`, id)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: queue attempts: %w", err)
	}
	return out, nil
}

// QueueGeneration reads the counter that TouchQueue bumps; 0 before the
// first touch.
func (db *DB) QueueGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, queueGeneration)
}

// queueCountsQuery counts the queue's items by state from queue_due
// (state first), an index-only scan where the visibility map allows,
// and finds the oldest queued item by its id: ids grow with creation
// (identity), so the first queued item in the primary key's order is
// the oldest, found after the held ones older than it. SQLite's query
// takes min(id) along with the count; here id is not in queue_due, and
// that would read every queued row.
const queueCountsQuery = `SELECT (SELECT count(*) FROM queue WHERE state = 'queued'),
	(SELECT count(*) FROM queue WHERE state = 'held'),
	(SELECT created FROM queue WHERE state = 'queued' ORDER BY id LIMIT 1)`

// QueueCounts counts the queue's items by state, for monitoring, with
// the creation time of the oldest queued one.
func (db *DB) QueueCounts(ctx context.Context) (store.QueueCounts, error) {
	var c store.QueueCounts
	var oldest *int64
	if err := db.pool.QueryRow(ctx, queueCountsQuery).Scan(&c.Queued, &c.Held, &oldest); err != nil {
		return store.QueueCounts{}, fmt.Errorf("store: queue counts: %w", err)
	}
	if oldest != nil {
		c.OldestQueued = time.UnixMilli(*oldest)
	}
	return c, nil
}

func (db *DB) queueItems(ctx context.Context, query string, args ...any) ([]store.QueueItem, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: queue: %w", err)
	}
	defer rows.Close()
	var out []store.QueueItem
	for rows.Next() {
		it, err := queueScanRow(rows.Scan)
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

func queueScanItem(row pgx.Row, id int64) (store.QueueItem, error) {
	it, err := queueScanRow(row.Scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return it, fmt.Errorf("store: queue item %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return it, fmt.Errorf("store: queue item %d: %w", id, err)
	}
	return it, nil
}

func queueScanRow(scan func(...any) error) (store.QueueItem, error) {
	var it store.QueueItem
	var created, next int64
	err := scan(&it.ID, &it.BlobID, &it.AccountID, &it.Sender, &it.Recipient, &it.Domain, &it.State,
		&it.Attempts, &created, &next, &it.LastReply, &it.Warned, &it.MessageID, &it.Size,
		&it.Params.Ret, &it.Params.EnvID, &it.Params.Notify, &it.Params.ORcpt, &it.Params.RequireTLS, &it.ManualRetries)
	it.Created, it.NextAttempt = time.UnixMilli(created), time.UnixMilli(next)
	return it, err
}
