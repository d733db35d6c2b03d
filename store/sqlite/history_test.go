package sqlite

import (
	"context"
	"pillarbox/store"
	"strings"
	"testing"
)

func TestHistoryQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	for _, by := range []string{store.HistoryByBlob, store.HistoryByQueue, store.HistoryByMessageID, store.HistoryByAddress} {
		rows, err := db.rdb.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+historyQuery(by), "x", 10)
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
		if strings.Contains(text, "SCAN history") || !strings.Contains(text, "history_"+strings.TrimSuffix(by, "_id")) {
			t.Errorf("plan by %s:\n%s", by, text)
		}
	}
}
