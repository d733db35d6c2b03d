package storesuite

import (
	"context"
	"strings"
	"testing"
	"time"

	"pillarbox/store"
)

// History checks the delivery history: a lookup by any key gives the
// whole stories of the messages it matches, latest first, and pruning
// removes at most its limit of the oldest events.
func History(t *testing.T, open Opener) {
	t.Run("Lookups", func(t *testing.T) { t.Parallel(); historyLookups(t, open) })
	t.Run("PruneBounded", func(t *testing.T) { t.Parallel(); historyPruneBounded(t, open) })
}

func historyNames(evs []store.HistoryEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Event)
	}
	return strings.Join(s, ",")
}

func historyLookups(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	at := func(s int) time.Time { return testNow.Add(time.Duration(s) * time.Second) }
	writeAll(t, db, store.Tx.AddHistory,
		store.HistoryEvent{At: at(0), Event: store.EventReceived, BlobID: 7, MessageID: "m7@x", Address: "a@x"},
		store.HistoryEvent{At: at(1), Event: store.EventQueued, BlobID: 7, QueueID: 3, MessageID: "m7@x", Address: "r@remote"},
		store.HistoryEvent{At: at(2), Event: store.EventDelivered, BlobID: 7, MessageID: "m7@x", Address: "b@x"},
		store.HistoryEvent{At: at(3), Event: store.EventDeferred, BlobID: 7, QueueID: 3, MessageID: "m7@x", Address: "r@remote"},
		store.HistoryEvent{At: at(4), Event: store.EventReceived, BlobID: 8, MessageID: "m8@x", Address: "c@x"},
		store.HistoryEvent{At: at(5), Event: store.EventRelayed, BlobID: 7, QueueID: 3, MessageID: "m7@x", Address: "r@remote", Detail: "250 ok"},
		store.HistoryEvent{At: at(6), Event: store.EventDelivered, BlobID: 8, MessageID: "m8@x", Address: "b@x"},
		// An event of no stored message matches by its own key only.
		store.HistoryEvent{At: at(7), Event: store.EventBounced, QueueID: 9, Address: "b@x"},
	)
	story7 := "relayed,deferred,delivered,queued,received"
	for _, c := range []struct {
		by    string
		value any
		want  string
	}{
		{store.HistoryByBlob, 7, story7},
		{store.HistoryByBlob, int64(7), story7},
		{store.HistoryByQueue, 3, story7},
		{store.HistoryByMessageID, "m7@x", story7},
		{store.HistoryByAddress, "a@x", story7},
		{store.HistoryByAddress, "c@x", "delivered,received"},
		{store.HistoryByAddress, "b@x", "bounced,delivered,relayed,received,deferred,delivered,queued,received"},
		{store.HistoryByQueue, 9, "bounced"},
		{store.HistoryByBlob, 9, ""},
		{store.HistoryByBlob, 0, ""},
		{store.HistoryByMessageID, "", ""},
		{store.HistoryByMessageID, "nope", ""},
	} {
		got, err := db.History(ctx, c.by, c.value, 100)
		if err != nil {
			t.Fatal(err)
		}
		if historyNames(got) != c.want {
			t.Errorf("History(%s=%v) = %s, want %s", c.by, c.value, historyNames(got), c.want)
		}
	}
	got, err := db.History(ctx, store.HistoryByBlob, 7, 2)
	if err != nil || historyNames(got) != "relayed,deferred" {
		t.Fatalf("limit 2: %s, %v", historyNames(got), err)
	}
	if got[0].QueueID != 3 || got[0].Address != "r@remote" || !got[0].At.Equal(at(5)) || got[0].Detail != "250 ok" ||
		got[0].MessageID != "m7@x" || got[0].BlobID != 7 || got[0].ID == 0 {
		t.Errorf("event = %+v", got[0])
	}
	if _, err := db.History(ctx, "detail", "x", 1); err == nil {
		t.Error("History by an unknown column succeeded")
	}
}

func historyPruneBounded(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	var evs []store.HistoryEvent
	for i := range 5 {
		evs = append(evs, store.HistoryEvent{At: testNow.Add(time.Duration(i) * time.Hour), Event: store.EventReceived, BlobID: int64(i + 1)})
	}
	writeAll(t, db, store.Tx.AddHistory, evs...)
	prune := func(limit int) int64 {
		var n int64
		write(t, db, func(tx store.Tx) error {
			var err error
			n, err = tx.PruneHistory(testNow.Add(3*time.Hour), limit)
			return err
		})
		return n
	}
	if n := prune(2); n != 2 {
		t.Errorf("first prune removed %d, want 2 (the limit)", n)
	}
	if n := prune(2); n != 1 {
		t.Errorf("second prune removed %d, want 1", n)
	}
	if n := prune(2); n != 0 {
		t.Errorf("third prune removed %d, want 0", n)
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
