package storesuite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"pillarbox/store"
)

// Queue checks the outbound queue's walk by destination domain.
func Queue(t *testing.T, open Opener) {
	t.Run("DomainWalk", func(t *testing.T) { t.Parallel(); queueDomainWalk(t, open) })
}

// The scheduler walks destination domains with NextQueueDomain and reads
// one domain's due items with DueDomainQueueItems: held items are left
// out, and each domain reports its earliest next attempt.
func queueDomainWalk(t *testing.T, open Opener) {
	db := open(t)
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
	write(t, db, func(tx store.Tx) error {
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
