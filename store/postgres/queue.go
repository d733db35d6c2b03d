package postgres

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"pillarbox/store"
)

// queueGeneration names the counters row that changes with every queue
// change made by an operator, so that a running relay notices it with
// one cheap read. See Tx.TouchQueue.
const queueGeneration = "queue_generation"

// queueChannel is the channel of the NOTIFY that the transactions making
// queue items due send (Enqueue, RetryQueueItems, SetQueueState
// releasing an item, TouchQueue), with an empty payload: a relay that
// LISTENs on it is woken by new mail or an operator's command on any
// node. PostgreSQL delivers it at commit, drops it with a rolled-back
// transaction or savepoint, and folds the identical notifications of one
// transaction into one.
const queueChannel = "pillarbox_queue"

// Due times (created and next_attempt) are milliseconds since the epoch;
// queue_attempts.at is seconds, as in the SQLite store.

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
	// The notification rides on the INSERT (a cross join with the one row
	// of pg_notify), to cost no round trip per recipient.
	var id int64
	err := tx.queryRow(`WITH ins AS (
		INSERT INTO queue(blob_id, account_id, sender, recipient, domain, created, next_attempt,
			dsn_ret, dsn_envid, dsn_notify, dsn_orcpt, require_tls)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id)
		SELECT ins.id FROM ins, (SELECT pg_notify($13, '')) AS n`,
		it.BlobID, acct, it.Sender, it.Recipient, it.Domain, it.Created.UnixMilli(), it.NextAttempt.UnixMilli(),
		env.Ret, env.EnvID, env.Notify, env.ORcpt, env.RequireTLS, queueChannel).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: enqueue: %w", err)
	}
	return id, nil
}

// QueueItem reads one queue row inside the transaction; ErrNotFound if
// it is gone.
//
// The row stays locked until the commit, so that what the transaction
// goes on to do with the item (remove or defer it) cannot find it gone:
// another node deleting it meanwhile waits, and then finds nothing.
func (tx *Tx) QueueItem(id int64) (store.QueueItem, error) {
	return queueScanItem(tx.queryRow(queueItemQuery+` WHERE q.id = $1 FOR NO KEY UPDATE OF q`, id), id)
}

// DeferQueueItem records a failed attempt of an item that stays queued:
// the attempt's row, the reply, the next attempt, and whether the sender
// has been warned of the delay. The state (queued or held) is kept.
func (tx *Tx) DeferQueueItem(id int64, a store.QueueAttempt, next time.Time, warned bool) error {
	tag, err := tx.exec(`UPDATE queue SET next_attempt = $1, last_reply = $2, warned = warned OR $3 WHERE id = $4`,
		next.UnixMilli(), a.Reply, warned, id)
	if err != nil {
		return fmt.Errorf("store: defer queue item %d: %w", id, err)
	}
	if err := queueAffected(tag, id); err != nil {
		return err
	}
	_, err = tx.exec(`INSERT INTO queue_attempts(queue_id, at, remote, reply, tls) VALUES ($1, $2, $3, $4, $5)`,
		id, a.At.Unix(), a.Remote, a.Reply, a.TLS)
	if err != nil {
		return fmt.Errorf("store: queue attempt: %w", err)
	}
	return nil
}

// RemoveQueueItem deletes a finished item (delivered, bounced or deleted
// by the operator) with its attempts; the blob goes with its last
// reference (a trigger). ErrNotFound if it is already gone.
func (tx *Tx) RemoveQueueItem(id int64) error {
	tag, err := tx.exec(`DELETE FROM queue WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: remove queue item %d: %w", id, err)
	}
	return queueAffected(tag, id)
}

// SetQueueState holds or releases an item. Releasing makes it due at
// now at the latest, and wakes the relays. ErrNotFound if there is no
// such item.
func (tx *Tx) SetQueueState(id int64, state string, now time.Time) error {
	if state != store.QueueQueued && state != store.QueueHeld {
		return fmt.Errorf("store: queue state %q", state)
	}
	q := `UPDATE queue SET state = $1 WHERE id = $2`
	args := []any{state, id}
	if state == store.QueueQueued {
		q = `UPDATE queue SET state = $1, next_attempt = least(next_attempt, $3) WHERE id = $2`
		args = append(args, now.UnixMilli())
	}
	tag, err := tx.exec(q, args...)
	if err != nil {
		return fmt.Errorf("store: queue item %d: %w", id, err)
	}
	if err := queueAffected(tag, id); err != nil {
		return err
	}
	if state == store.QueueQueued {
		return tx.queueNotify()
	}
	return nil
}

// RetryQueueItems makes queued items due at now: the one with the given
// id, or every queued item when id is 0. Held items are left alone.
// It returns how many items it changed, and wakes the relays.
func (tx *Tx) RetryQueueItems(id int64, now time.Time) (int, error) {
	// An item waiting for a later attempt counts the one made now as a
	// manual retry, not a step of the backoff (QueueItem.BackoffStep), so
	// that an operator's retry does not lengthen the waits after it. An
	// item already due (say, retried twice) counts nothing more.
	q := `UPDATE queue SET next_attempt = $1,
		manual_retries = CASE WHEN next_attempt > $1 AND manual_retries < attempts THEN manual_retries + 1 ELSE manual_retries END
		WHERE state = 'queued'`
	args := []any{now.UnixMilli()}
	if id != 0 {
		q += ` AND id = $2`
		args = append(args, id)
	}
	tag, err := tx.exec(q, args...)
	if err != nil {
		return 0, fmt.Errorf("store: retry: %w", err)
	}
	if err := tx.queueNotify(); err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// TouchQueue bumps the queue generation, which a running relay reads
// once a second to notice changes made elsewhere, and wakes the relays
// that listen on queueChannel.
func (tx *Tx) TouchQueue() error {
	if err := tx.bumpGeneration(queueGeneration); err != nil {
		return err
	}
	return tx.queueNotify()
}

// queueNotify wakes the relays of every node once this transaction
// commits.
func (tx *Tx) queueNotify() error {
	if _, err := tx.exec(`SELECT pg_notify($1, '')`, queueChannel); err != nil {
		return fmt.Errorf("store: notify %s: %w", queueChannel, err)
	}
	return nil
}

// queueAffected is ErrNotFound when a statement on queue item id changed
// no row.
func queueAffected(tag pgconn.CommandTag, id int64) error {
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: queue item %d: %w", id, store.ErrNotFound)
	}
	return nil
}
