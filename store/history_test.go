package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func addHistory(t *testing.T, db *DB, events ...HistoryEvent) {
	t.Helper()
	err := db.Write(context.Background(), func(tx *Tx) error {
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

func eventNames(evs []HistoryEvent) string {
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
		HistoryEvent{At: at(0), Event: EventReceived, BlobID: 7, MessageID: "m7@x", Address: "a@x"},
		HistoryEvent{At: at(1), Event: EventQueued, BlobID: 7, QueueID: 3, MessageID: "m7@x", Address: "r@remote"},
		HistoryEvent{At: at(2), Event: EventDelivered, BlobID: 7, MessageID: "m7@x", Address: "b@x"},
		HistoryEvent{At: at(3), Event: EventDeferred, BlobID: 7, QueueID: 3, MessageID: "m7@x", Address: "r@remote"},
		HistoryEvent{At: at(4), Event: EventReceived, BlobID: 8, MessageID: "m8@x", Address: "c@x"},
		HistoryEvent{At: at(5), Event: EventRelayed, BlobID: 7, QueueID: 3, MessageID: "m7@x", Address: "r@remote"},
		HistoryEvent{At: at(6), Event: EventDelivered, BlobID: 8, MessageID: "m8@x", Address: "b@x"},
	)
	story7 := "relayed,deferred,delivered,queued,received"
	for _, c := range []struct {
		by    string
		value any
		want  string
	}{
		{HistoryByBlob, 7, story7},
		{HistoryByQueue, 3, story7},
		{HistoryByMessageID, "m7@x", story7},
		{HistoryByAddress, "a@x", story7},
		{HistoryByAddress, "c@x", "delivered,received"},
		{HistoryByAddress, "b@x", "delivered,relayed,received,deferred,delivered,queued,received"},
		{HistoryByBlob, 9, ""},
		{HistoryByMessageID, "nope", ""},
	} {
		got, err := db.History(ctx, c.by, c.value, 100)
		if err != nil {
			t.Fatal(err)
		}
		if eventNames(got) != c.want {
			t.Errorf("History(%s=%v) = %s, want %s", c.by, c.value, eventNames(got), c.want)
		}
	}
	got, err := db.History(ctx, HistoryByBlob, 7, 2)
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
	var evs []HistoryEvent
	for i := range 5 {
		evs = append(evs, HistoryEvent{At: testNow.Add(time.Duration(i) * time.Hour), Event: EventReceived, BlobID: int64(i + 1)})
	}
	addHistory(t, db, evs...)
	prune := func(limit int) int64 {
		var n int64
		err := db.Write(ctx, func(tx *Tx) error {
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
		got, err := db.History(ctx, HistoryByBlob, i+1, 10)
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
	for _, by := range []string{HistoryByBlob, HistoryByQueue, HistoryByMessageID, HistoryByAddress} {
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
