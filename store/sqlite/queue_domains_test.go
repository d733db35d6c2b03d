package sqlite

import (
	"context"
	"fmt"
	"pillarbox/store"
	"strings"
	"testing"
	"time"
)

// The scheduler walks destination domains with NextQueueDomain and reads
// one domain's due items with DueDomainQueueItems: held items are left
// out, and each domain reports its earliest next attempt.
func TestQueueDomainWalk(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
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
	ids := make([]int64, len(items))
	err := db.write(ctx, func(tx *Tx) error {
		blob, err := tx.InsertBlob(&store.Blob{Data: []byte("Subject: q\r\n\r\nx\r\n"), MessageID: "q@x", Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		for i, it := range items {
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
	if due, _ := db.DueDomainQueueItems(ctx, "c.test", t0.Add(time.Hour), 10); len(due) != 0 {
		t.Errorf("held item due: %+v", due)
	}
}

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
