package sqlite

import (
	"context"
	"strings"
	"testing"
)

// Both scheduler queries are index seeks: neither reads the queue in
// full nor sorts it, however large it grows.
func TestQueueDomainQueriesUseIndex(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	for _, q := range []struct {
		query string
		args  []any
	}{
		{nextDomainQuery, []any{""}},
		{dueDomainQuery, []any{"x", 0, 10}},
	} {
		rows, err := db.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.query, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, "queue_domain_due") || strings.Contains(text, "TEMP B-TREE") || strings.Contains(text, "SCAN q") || strings.Contains(text, "SCAN queue") {
			t.Errorf("plan of %q:\n%s", q.query, text)
		}
	}
}
