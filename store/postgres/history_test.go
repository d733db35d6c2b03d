package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"pillarbox/store"
)

func addHistory(t *testing.T, db *DB, events ...store.HistoryEvent) {
	t.Helper()
	err := dirWrite(db, func(tx *Tx) error {
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

func historyNames(evs []store.HistoryEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Event)
	}
	return strings.Join(s, ",")
}

func TestHistoryLookups(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	at := func(s int) time.Time { return dirNow.Add(time.Duration(s) * time.Second) }
	addHistory(t, db,
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

func TestPruneHistoryBounded(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	var evs []store.HistoryEvent
	for i := range 5 {
		evs = append(evs, store.HistoryEvent{At: dirNow.Add(time.Duration(i) * time.Hour), Event: store.EventReceived, BlobID: int64(i + 1)})
	}
	addHistory(t, db, evs...)
	prune := func(limit int) int64 {
		var n int64
		err := dirWrite(db, func(tx *Tx) error {
			var err error
			n, err = tx.PruneHistory(dirNow.Add(3*time.Hour), limit)
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

// A node pruning while another node's pruning holds the oldest events
// takes the next ones instead of waiting for that commit.
func TestPruneHistorySkipsAnotherNodesRows(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	var evs []store.HistoryEvent
	for i := range 4 {
		evs = append(evs, store.HistoryEvent{At: dirNow, Event: store.EventReceived, BlobID: int64(i + 1)})
	}
	addHistory(t, a, evs...)
	cutoff := dirNow.Add(time.Hour)
	held, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	var n1 int64
	go func() {
		first <- dirWrite(a, func(tx *Tx) error {
			var err error
			n1, err = tx.PruneHistory(cutoff, 2)
			close(held)
			<-release
			return err
		})
	}()
	<-held
	// Should b wait for a's rows after all, a commits in a while, and
	// b's late answer fails the test rather than hanging it.
	waited := time.AfterFunc(5*time.Second, func() { close(release) })
	var n2 int64
	err := dirWrite(b, func(tx *Tx) error {
		var err error
		n2, err = tx.PruneHistory(cutoff, 2)
		return err
	})
	if waited.Stop() {
		close(release)
	} else {
		t.Error("the second node waited for the first's pruning")
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err != nil || n1 != 2 || n2 != 2 {
		t.Fatalf("pruned %d and %d (%v), want 2 and 2", n1, n2, err)
	}
	var left int
	query1(t, a.pool, "SELECT count(*) FROM history", &left)
	if left != 0 {
		t.Fatalf("%d events left", left)
	}
}

// Each arm of History's query reads an index, whatever the table holds.
func TestHistoryQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	index := map[string]string{store.HistoryByBlob: "history_blob", store.HistoryByQueue: "history_queue",
		store.HistoryByMessageID: "history_message_id", store.HistoryByAddress: "history_address"}
	for by, ix := range index {
		tx, err := db.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A sequential scan of an empty table costs nothing: forbid it,
		// so that one still chosen means no index serves the query.
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		var value any = 7
		if by == store.HistoryByMessageID || by == store.HistoryByAddress {
			value = "x"
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+historyQuery(by), value, 10)
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
		tx.Rollback(ctx)
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "Seq Scan") || !strings.Contains(text, "Index Scan on "+ix+" ") ||
			!strings.Contains(text, "Index Scan on history_blob ") {
			t.Errorf("plan by %s:\n%s", by, text)
		}
	}
}
