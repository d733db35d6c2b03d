package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"pillarbox/store"
)

// The scheduler walks destination domains with NextQueueDomain and reads
// one domain's due items with DueDomainQueueItems: held items are left
// out, and each domain reports its earliest next attempt.
func TestQueueDomainWalk(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_250)
	items := []struct {
		domain string
		next   time.Duration
		held   bool
	}{
		{"b.test", time.Minute, false},
		{"a.test", 2 * time.Second, false},
		{"b.test", 0, false},
		{"c.test", 0, true},
		{"a.test", time.Second, false},
		{"d.test", 3 * time.Millisecond, false},
	}
	blob := queueTestBlob(t, db.pool)
	ids := make([]int64, len(items))
	err := db.write(ctx, func(tx *Tx) error {
		for i, it := range items {
			var err error
			ids[i], err = tx.Enqueue(store.NewQueueItem{BlobID: blob, Sender: "a@example.org", Recipient: fmt.Sprintf("r%d@%s", i, it.domain),
				Domain: it.domain, Created: t0, NextAttempt: t0.Add(it.next)})
			if err != nil {
				return err
			}
			if it.held {
				if err := tx.SetQueueState(ids[i], store.QueueHeld, t0); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var walk []string
	for after := ""; ; {
		d, first, ok, err := db.NextQueueDomain(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		walk = append(walk, fmt.Sprintf("%s+%v", d, first.Sub(t0)))
		after = d
	}
	if got, want := strings.Join(walk, " "), "a.test+1s b.test+0s d.test+3ms"; got != want {
		t.Errorf("walk %q, want %q", got, want)
	}
	due, err := db.DueDomainQueueItems(ctx, "a.test", t0.Add(2*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].ID != ids[4] || due[1].ID != ids[1] {
		t.Errorf("a.test due %+v, want ids %d then %d", due, ids[4], ids[1])
	}
	if due, _ := db.DueDomainQueueItems(ctx, "a.test", t0.Add(1999*time.Millisecond), 10); len(due) != 1 {
		t.Errorf("a.test at +1.999s: %d due, want 1", len(due))
	}
	if due, _ := db.DueDomainQueueItems(ctx, "a.test", t0.Add(time.Hour), 1); len(due) != 1 || due[0].ID != ids[4] {
		t.Errorf("a.test limited to 1: %+v", due)
	}
	if due, _ := db.DueDomainQueueItems(ctx, "c.test", t0.Add(time.Hour), 10); len(due) != 0 {
		t.Errorf("held item due: %+v", due)
	}
}

// The scheduler's queries and QueueCounts are index ranges on a large
// queue: none reads the queue in full, and none sorts more than the
// items of one due time (the index orders by next_attempt; the tie on
// id is an incremental sort, where SQLite's index carries the rowid).
func TestQueueQueriesUseIndex(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	blob := queueTestBlob(t, db.pool)
	// 20,000 items over 200 domains and ten minutes, a few held.
	exec(t, db.pool, `INSERT INTO queue(blob_id, sender, recipient, domain, state, created, next_attempt)
		SELECT $1, 'a@example.org', 'r' || i || '@d' || (i % 200) || '.test', 'd' || (i % 200) || '.test',
			CASE WHEN i % 50 = 0 THEN 'held' ELSE 'queued' END, i, 1800000000000 + (i % 600) * 1000
		FROM generate_series(1, 20000) AS i`, blob)
	exec(t, db.pool, `VACUUM ANALYZE queue`)
	for _, q := range []struct {
		query string
		args  []any
		index string
	}{
		{queueNextDomainQuery, []any{"d5.test"}, "queue_domain_due"},
		{queueDueDomainQuery, []any{"d7.test", int64(1800000300000), 10}, "queue_domain_due"},
		{queueDueQuery, []any{int64(1800000300000), 10}, "queue_due"},
		{queueCountsQuery, nil, "queue_due"},
	} {
		rows, err := db.pool.Query(ctx, "EXPLAIN "+q.query, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, q.index) || strings.Contains(text, "Seq Scan on queue") {
			t.Errorf("plan of %q does not range over %s:\n%s", q.query, q.index, text)
		}
		for _, line := range plan {
			if strings.Contains(line, "Sort") && !strings.Contains(line, "Incremental Sort") && !strings.Contains(line, "Sort Key") &&
				!strings.Contains(line, "Presorted Key") {
				t.Errorf("plan of %q sorts:\n%s", q.query, text)
			}
		}
	}
}
