package sqlite

import (
	"context"
	"pillarbox/store"
	"strings"
	"testing"
	"time"
)

func addHistory(t *testing.T, db *DB, events ...store.HistoryEvent) {
	t.Helper()
	err := db.write(context.Background(), func(tx *Tx) error {
		for _, e := range events {
			if err := tx.AddHistory(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func eventNames(evs []store.HistoryEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Event)
	}
	return strings.Join(s, ",")
}

func TestHistoryLookups(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	at := func(s int) time.Time { return testNow.Add(time.Duration(s) * time.Second) }
	addHistory(t, db,
		store.HistoryEvent{At: at(0), Event: store.EventReceived, BlobID: 7, MessageID: "m7@x", Address: "a@x"},
		store.HistoryEvent{At: at(1), Event: store.EventQueued, BlobID: 7, QueueID: 3, MessageID: "m7@x", Address: "r@remote"},
		store.HistoryEvent{At: at(2), Event: store.EventDelivered, BlobID: 7, MessageID: "m7@x", Address: "b@x"},
		store.HistoryEvent{At: at(3), Event: store.EventDeferred, BlobID: 7, QueueID: 3, MessageID: "m7@x", Address: "r@remote"},
		store.HistoryEvent{At: at(4), Event: store.EventReceived, BlobID: 8, MessageID: "m8@x", Address: "c@x"},
		store.HistoryEvent{At: at(5), Event: store.EventRelayed, BlobID: 7, QueueID: 3, MessageID: "m7@x", Address: "r@remote"},
		store.HistoryEvent{At: at(6), Event: store.EventDelivered, BlobID: 8, MessageID: "m8@x", Address: "b@x"},
	)
	story7 := "relayed,deferred,delivered,queued,received"
	for _, c := range []struct {
		by    string
		value any
		want  string
	}{
		{store.HistoryByBlob, 7, story7},
		{store.HistoryByQueue, 3, story7},
		{store.HistoryByMessageID, "m7@x", story7},
		{store.HistoryByAddress, "a@x", story7},
		{store.HistoryByAddress, "c@x", "delivered,received"},
		{store.HistoryByAddress, "b@x", "delivered,relayed,received,deferred,delivered,queued,received"},
		{store.HistoryByBlob, 9, ""},
		{store.HistoryByMessageID, "nope", ""},
	} {
		got, err := db.History(ctx, c.by, c.value, 100)
		if err != nil {
			t.Fatal(err)
		}
		if eventNames(got) != c.want {
			t.Errorf("History(%s=%v) = %s, want %s", c.by, c.value, eventNames(got), c.want)
		}
	}
	got, err := db.History(ctx, store.HistoryByBlob, 7, 2)
	if err != nil || eventNames(got) != "relayed,deferred" {
		t.Errorf("limit 2: %s, %v", eventNames(got), err)
	}
	if got[0].QueueID != 3 || got[0].Address != "r@remote" || !got[0].At.Equal(at(5)) {
		t.Errorf("event = %+v", got[0])
	}
	if _, err := db.History(ctx, "detail", "x", 1); err == nil {
		t.Error("History by an unknown column succeeded")
	}
}

func TestPruneHistoryBounded(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	var evs []store.HistoryEvent
	for i := range 5 {
		evs = append(evs, store.HistoryEvent{At: testNow.Add(time.Duration(i) * time.Hour), Event: store.EventReceived, BlobID: int64(i + 1)})
	}
	addHistory(t, db, evs...)
	prune := func(limit int) int64 {
		var n int64
		err := db.write(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.PruneHistory(testNow.Add(3*time.Hour), limit)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := prune(2); n != 2 {
		t.Errorf("first prune removed %d, want 2 (the limit)", n)
	}
	if n := prune(2); n != 1 {
		t.Errorf("second prune removed %d, want 1", n)
	}
	for i, want := range []int{0, 0, 0, 1, 1} {
		got, err := db.History(ctx, store.HistoryByBlob, i+1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Errorf("blob %d: %d events, want %d", i+1, len(got), want)
		}
	}
}

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
