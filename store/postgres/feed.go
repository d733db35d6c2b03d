package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"pillarbox/store"
)

// The change feed (store.Feed). Every batch that changed a mailbox's
// messages sends, just before its COMMIT, one notification per mailbox
// on mailboxChannel: "id modseq", the HIGHESTMODSEQ it leaves. The queue's
// writes notify queueChannel (queue.go). PostgreSQL delivers a
// transaction's notifications when it commits, in commit order, to every
// connection listening, the sender's own node's too; a rolled-back batch
// sends none.

const mailboxChannel = "pillarbox_mailbox"

// feedApp is the feed connection's application_name, which tells it
// apart in pg_stat_activity.
const feedApp = "pillarbox feed"

// How long Follow waits before connecting again: doubling from the first
// to the last while the database stays away.
const (
	feedRetryMin = 100 * time.Millisecond
	feedRetryMax = 10 * time.Second
)

// After feedPing without a notification the feed checks that its
// connection still answers, within feedPingWait: a connection that died
// without a word (a host gone, a firewall's dropped state) would
// otherwise leave the node deaf to the others until TCP gives up.
const (
	feedPing     = 30 * time.Second
	feedPingWait = 10 * time.Second
)

// touch notes that the batch changed mailbox id's messages or removed it.
func (tx *Tx) touch(id int64) { tx.touched[id] = struct{}{} }

// notifyTouched queues the batch's notifications: one statement for all
// the mailboxes it touched, each with its HIGHESTMODSEQ as the batch
// leaves it, 0 for one it removed.
func (tx *Tx) notifyTouched() error {
	if len(tx.touched) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(tx.touched))
	for id := range tx.touched {
		ids = append(ids, id)
	}
	_, err := tx.tx.Exec(context.Background(), `SELECT pg_notify($1, t.id || ' ' || coalesce(m.highestmodseq, 0))
		FROM unnest($2::bigint[]) AS t(id) LEFT JOIN mailboxes m ON m.id = t.id`, mailboxChannel, ids)
	if err != nil {
		return fmt.Errorf("store: notify %s: %w", mailboxChannel, err)
	}
	return nil
}

// Follow implements store.Feed: it listens on a connection of its own,
// outside the pools, and makes a new one whenever that one breaks.
func (db *DB) Follow(ctx context.Context, f store.FeedFuncs) error {
	wait := feedRetryMin
	for {
		listened, err := db.follow(ctx, f)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listened {
			wait = feedRetryMin
		}
		db.log.Warn("store: change feed lost its connection", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		wait = min(2*wait, feedRetryMax)
	}
}

// follow listens on one connection until it breaks or ctx ends;
// listened reports whether it got as far as listening.
func (db *DB) follow(ctx context.Context, f store.FeedFuncs) (listened bool, err error) {
	cfg := db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = feedApp
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{mailboxChannel, queueChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return false, err
		}
	}
	// Listening now: whatever commits from here on is told. What
	// committed before is the caller's to read.
	if f.Resync != nil {
		f.Resync()
	}
	for {
		wait, cancel := context.WithTimeout(ctx, db.feedPing)
		n, err := conn.WaitForNotification(wait)
		cancel()
		if err != nil && ctx.Err() == nil && pgconn.Timeout(err) {
			check, cancel := context.WithTimeout(ctx, db.feedPingWait)
			err = conn.Ping(check)
			cancel()
			if err == nil {
				continue
			}
		}
		if err != nil {
			return true, err
		}
		switch n.Channel {
		case mailboxChannel:
			id, modseq, ok := parseMailboxNote(n.Payload)
			if !ok {
				db.log.Error("store: change feed: bad notification", "payload", n.Payload)
				continue
			}
			if f.Mailbox != nil {
				f.Mailbox(id, modseq)
			}
		case queueChannel:
			if f.Queue != nil {
				f.Queue()
			}
		}
	}
}

// parseMailboxNote reads "id modseq".
func parseMailboxNote(p string) (id int64, modseq uint64, ok bool) {
	a, b, found := strings.Cut(p, " ")
	if !found {
		return 0, 0, false
	}
	id, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	modseq, err = strconv.ParseUint(b, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return id, modseq, true
}
