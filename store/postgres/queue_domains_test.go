package postgres

import (
	"context"
	"strings"
	"testing"
)

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
