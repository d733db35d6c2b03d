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
