package mailbox

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// stepClock is a clock that tests move by hand.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func storyOf(evs []HistoryEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Event+" "+e.Address)
	}
	return strings.Join(s, " | ")
}

func TestHistoryOfSubmissionAndRelay(t *testing.T) {
	t.Parallel()
	clock := &stepClock{t: queueNow}
	e := newQueueEnvWith(t, Options{Now: clock.now})
	ctx := context.Background()
	y, _ := ParseAddress("y@other.test")
	z, _ := ParseAddress("z@other.test")
	res, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr,
		Local:  []Recipient{e.resolve(t, "team@example.org")},
		Remote: []Address{e.x, y, z}, Data: []byte(submitMsg),
		Origin: &Origin{Session: "s-1", Client: "192.0.2.7", Helo: "laptop", TLS: "TLS 1.3"}})
	if err != nil {
		t.Fatal(err)
	}
	qx, qy, qz := res.Queued[0], res.Queued[1], res.Queued[2]
	clock.add(time.Minute)
	att := QueueAttempt{At: clock.now(), Remote: "mx.remote.test", Reply: "451 4.3.0 busy", TLS: "TLS 1.3"}
	if _, err := e.svc.FinishQueueItems(ctx, []QueueResult{{ID: qx, Outcome: QueueDeferred, Attempt: att, Next: clock.now().Add(time.Minute)}}, nil); err != nil {
		t.Fatal(err)
	}
	clock.add(time.Minute)
	ok := QueueAttempt{At: clock.now(), Remote: "mx.remote.test", Reply: "250 ok", TLS: "TLS 1.3"}
	bad := QueueAttempt{At: clock.now(), Remote: "mx.other.test", Reply: "550 5.1.1 no such user"}
	_, err = e.svc.FinishQueueItems(ctx, []QueueResult{{ID: qx, Outcome: QueueDelivered, Attempt: ok},
		{ID: qy, Outcome: QueueFailed, Attempt: bad}},
		&Notice{To: "alice@example.org", AccountID: e.alice.ID, Data: []byte("Subject: failed\r\nMessage-ID: <dsn1@example.org>\r\n\r\nx\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	clock.add(time.Minute)
	if err := e.svc.QueueDelete(ctx, qz); err != nil {
		t.Fatal(err)
	}

	want := "deleted z@other.test | bounced y@other.test | relayed x@remote.test | deferred x@remote.test | " +
		"queued z@other.test | queued y@other.test | queued x@remote.test | delivered team@example.org | received alice@example.org"
	for _, k := range []struct {
		by    string
		value any
	}{
		{HistoryByQueue, qx}, {HistoryByStored, res.ID}, {HistoryByMessageID, "s1@example.org"}, {HistoryByAddress, "y@other.test"},
	} {
		evs, err := e.svc.History(ctx, k.by, k.value, 100)
		if err != nil {
			t.Fatal(err)
		}
		if got := storyOf(evs); got != want {
			t.Errorf("History(%s=%v):\n got %s\nwant %s", k.by, k.value, got, want)
		}
	}
	evs, _ := e.svc.History(ctx, HistoryByQueue, qx, 100)
	byEvent := map[string]HistoryEvent{}
	for _, ev := range evs {
		byEvent[ev.Event+" "+ev.Address] = ev
	}
	for key, wantIn := range map[string]string{
		"received alice@example.org": "client [192.0.2.7] helo laptop; TLS TLS 1.3; user alice@example.org; to team@example.org,x@remote.test,y@other.test,z@other.test",
		"delivered team@example.org": "locally to alice@example.org,bob@example.org",
		"deferred x@remote.test":     "host mx.remote.test; TLS TLS 1.3; reply 451 4.3.0 busy; next attempt",
		"relayed x@remote.test":      "reply 250 ok",
		"bounced y@other.test":       "host mx.other.test; TLS none; reply 550 5.1.1 no such user",
		"deleted z@other.test":       "by the operator",
	} {
		if d := byEvent[key].Detail; !strings.Contains(d, wantIn) {
			t.Errorf("%s: detail %q, want it to contain %q", key, d, wantIn)
		}
	}
	if ev := byEvent["relayed x@remote.test"]; !ev.At.Equal(queueNow.Add(2*time.Minute)) || ev.QueueID != qx || ev.BlobID != res.ID {
		t.Errorf("relayed event %+v", ev)
	}
	// The bounce notice has a story of its own.
	evs, err = e.svc.History(ctx, HistoryByMessageID, "dsn1@example.org", 100)
	if err != nil || storyOf(evs) != "delivered alice@example.org" {
		t.Errorf("notice story %q, %v", storyOf(evs), err)
	}
}

func TestHistoryOfDeliveryAndPruning(t *testing.T) {
	t.Parallel()
	clock := &stepClock{t: queueNow}
	e := newQueueEnvWith(t, Options{Now: clock.now, HistoryKeep: time.Hour})
	ctx := context.Background()
	deliver := func(msgID string) Delivered {
		t.Helper()
		res, err := e.svc.Deliver(ctx, &Delivery{From: "ext@remote.test", Recipients: []Recipient{e.resolve(t, "bob@example.org")},
			Data:   []byte("Message-ID: <" + msgID + ">\r\n\r\nhi\r\n"),
			Origin: &Origin{Client: "198.51.100.1", Helo: "mx.remote.test", Auth: "spf=pass dkim=none dmarc=none"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := deliver("a@remote.test")
	evs, err := e.svc.History(ctx, HistoryByAddress, "ext@remote.test", 10)
	if err != nil || storyOf(evs) != "delivered bob@example.org | received ext@remote.test" {
		t.Fatalf("story %q, %v", storyOf(evs), err)
	}
	if d := evs[1].Detail; d != "client [198.51.100.1] helo mx.remote.test; TLS none; auth spf=pass dkim=none dmarc=none; to bob@example.org" {
		t.Errorf("received detail %q", d)
	}
	clock.add(2 * time.Hour)
	second := deliver("b@remote.test")
	if n, err := e.svc.PruneHistory(ctx); err != nil || n != 2 {
		t.Fatalf("pruned %d events, %v; want the first story's 2", n, err)
	}
	if evs, _ := e.svc.History(ctx, HistoryByStored, first.ID, 10); len(evs) != 0 {
		t.Errorf("events older than HistoryKeep kept: %q", storyOf(evs))
	}
	if evs, _ := e.svc.History(ctx, HistoryByStored, second.ID, 10); len(evs) != 2 {
		t.Errorf("new story %q", storyOf(evs))
	}
	if first.ID == second.ID {
		t.Errorf("stored id %d reused", first.ID)
	}
}
