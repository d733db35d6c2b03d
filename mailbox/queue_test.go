package mailbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFinishQueueItems(t *testing.T) {
	t.Parallel()
	// Without a Sent copy, which would keep the stored message.
	e := newQueueEnvWith(t, Options{NoSentCopy: true})
	ctx := context.Background()
	y, _ := ParseAddress("y@remote.test")
	z, _ := ParseAddress("z@remote.test")
	res, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr, Remote: []Address{e.x, y, z}, Data: []byte(submitMsg)})
	if err != nil {
		t.Fatal(err)
	}
	xID, yID, zID := res.Queued[0], res.Queued[1], res.Queued[2]
	claimed, err := e.svc.ClaimQueueItems(ctx, []QueueClaim{{xID, queueNow.Add(time.Minute)}, {yID, queueNow.Add(time.Minute)},
		{zID, queueNow.Add(time.Minute)}, {12345, queueNow}})
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claimed %v, %v", claimed, err)
	}
	later := queueNow.Add(time.Minute)
	notice := &Notice{To: "alice@example.org", AccountID: e.alice.ID, Data: []byte("Subject: bounce\r\n\r\ny failed\r\n")}
	sent, err := e.svc.FinishQueueItems(ctx, []QueueResult{
		{ID: xID, Outcome: QueueDelivered, Attempt: QueueAttempt{At: later, Remote: "mx", Reply: "250 ok"}},
		{ID: yID, Outcome: QueueFailed, Attempt: QueueAttempt{At: later, Remote: "mx", Reply: "550 no"}},
		{ID: zID, Outcome: QueueDeferred, Attempt: QueueAttempt{At: later, Remote: "mx", Reply: "451 later"}, Next: later.Add(time.Hour), Warned: true},
	}, notice)
	if err != nil || sent.Accounts != 1 || sent.Dropped != "" {
		t.Fatalf("finish: %+v, %v", sent, err)
	}
	q, _ := e.svc.QueueList(ctx)
	if len(q) != 1 || q[0].ID != zID || q[0].Attempts != 1 || !q[0].NextAttempt.Equal(later.Add(time.Hour)) ||
		q[0].LastReply != "451 later" || !q[0].Warned {
		t.Errorf("queue %+v", q)
	}
	d, err := e.svc.QueueShow(ctx, zID)
	if err != nil || len(d.Attempts) != 1 || d.Attempts[0].Remote != "mx" || !d.Attempts[0].At.Equal(later) ||
		!strings.HasSuffix(string(d.Header), "Message-ID: <s1@example.org>\r\n\r\n") {
		t.Errorf("show %+v, %v", d, err)
	}
	if e.inboxCount(t, "alice@example.org") != 1 || e.changes.count() != 1 {
		t.Error("bounce not in alice's INBOX")
	}

	// A notice about items that have gone is not sent; a deferral of a
	// deleted item is ignored.
	if err := e.svc.QueueDelete(ctx, zID); err != nil {
		t.Fatal(err)
	}
	sent, err = e.svc.FinishQueueItems(ctx, []QueueResult{{ID: zID, Outcome: QueueFailed}}, notice)
	if err != nil || sent.Dropped == "" || sent.Accounts != 0 {
		t.Errorf("notice about a deleted item: %+v, %v", sent, err)
	}
	if n, _ := e.db.CountBlobs(ctx); n != 1 {
		t.Errorf("%d blobs: the queued message should be gone, the bounce kept", n)
	}
}

func TestNoticeRouting(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	enqueue := func(sender string) int64 {
		res, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr, Remote: []Address{e.x}, Data: []byte(submitMsg)})
		if err != nil {
			t.Fatal(err)
		}
		return res.Queued[0]
	}
	fail := func(id int64, n *Notice) NoticeSent {
		t.Helper()
		sent, err := e.svc.FinishQueueItems(ctx, []QueueResult{{ID: id, Outcome: QueueFailed}}, n)
		if err != nil {
			t.Fatal(err)
		}
		return sent
	}
	// To a remote sender: queued with the null sender.
	sent := fail(enqueue("a"), &Notice{To: "zed@elsewhere.test", Data: []byte("Subject: b\r\n\r\nx\r\n")})
	it, err := e.db.QueueItem(ctx, sent.QueueID)
	if err != nil || it.Sender != "" || it.Recipient != "zed@elsewhere.test" || it.Domain != "elsewhere.test" || it.AccountID != 0 {
		t.Errorf("remote notice %+v, %v", it, err)
	}
	// From an alias: to the submitting account only.
	sent = fail(enqueue("b"), &Notice{To: "team@example.org", AccountID: e.bob.ID, Data: []byte("Subject: b\r\n\r\nx\r\n")})
	if sent.Accounts != 1 || e.inboxCount(t, "bob@example.org") != 1 || e.inboxCount(t, "alice@example.org") != 0 {
		t.Errorf("alias notice %+v", sent)
	}
	// Nobody to tell.
	for _, to := range []string{"", "gone@example.org"} {
		if sent := fail(enqueue("c"), &Notice{To: to, Data: []byte("x")}); sent.Dropped == "" {
			t.Errorf("notice to %q: %+v", to, sent)
		}
	}
}

func TestQueueOperatorCommands(t *testing.T) {
	t.Parallel()
	// Without a Sent copy, which would keep the stored message.
	e := newQueueEnvWith(t, Options{NoSentCopy: true})
	ctx := context.Background()
	res, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr, Remote: []Address{e.x}, Data: []byte(submitMsg)})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Queued[0]
	gen := func() int64 {
		g, err := e.svc.QueueGeneration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g0 := gen()
	if _, err := e.svc.ClaimQueueItems(ctx, []QueueClaim{{id, queueNow.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if gen() != g0 {
		t.Error("the relay's own writes bump the generation")
	}
	if n, err := e.svc.QueueRetry(ctx, 0); err != nil || n != 1 {
		t.Fatalf("retry all: %d, %v", n, err)
	}
	if it, _ := e.db.QueueItem(ctx, id); !it.NextAttempt.Equal(queueNow) || gen() == g0 {
		t.Errorf("after retry: %+v", it)
	}
	if err := e.svc.QueueHold(ctx, id); err != nil {
		t.Fatal(err)
	}
	if due, _ := e.svc.DueQueueItems(ctx, queueNow.Add(time.Hour), 10); len(due) != 0 {
		t.Error("a held item is due")
	}
	if n, _ := e.svc.QueueRetry(ctx, 0); n != 0 {
		t.Error("retry --all touched a held item")
	}
	if _, err := e.svc.QueueRetry(ctx, id); err == nil {
		t.Error("retry of a held item")
	}
	if err := e.svc.QueueRelease(ctx, id); err != nil {
		t.Fatal(err)
	}
	if due, _ := e.svc.DueQueueItems(ctx, queueNow, 10); len(due) != 1 {
		t.Error("a released item is not due")
	}
	// Released again, it is not held: an error, not a silent success.
	if err := e.svc.QueueRelease(ctx, id); err == nil || errors.Is(err, ErrNoSuchItem) {
		t.Errorf("release of an item that is not held: %v", err)
	}
	if err := e.svc.QueueDelete(ctx, id); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"delete":  e.svc.QueueDelete(ctx, id),
		"hold":    e.svc.QueueHold(ctx, id),
		"release": e.svc.QueueRelease(ctx, id),
	} {
		if !errors.Is(err, ErrNoSuchItem) {
			t.Errorf("%s of a missing item: %v", name, err)
		}
	}
	if _, err := e.svc.QueueRetry(ctx, id); !errors.Is(err, ErrNoSuchItem) {
		t.Errorf("retry of a missing item: %v", err)
	}
	if _, err := e.svc.QueueShow(ctx, id); !errors.Is(err, ErrNoSuchItem) {
		t.Errorf("show of a missing item: %v", err)
	}
	if n, _ := e.db.CountBlobs(ctx); n != 0 {
		t.Errorf("%d blobs left after delete", n)
	}
}

func TestHeaderOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"A: b\r\nC: d\r\n\r\nbody\r\n\r\nmore": "A: b\r\nC: d\r\n\r\n",
		"A: b\n\nbody":                         "A: b\n\n",
		"A: b\r\n":                             "A: b\r\n",
		"\r\nbody":                             "\r\n",
		"no header at all":                     "no header at all",
	} {
		if got := string(HeaderOf([]byte(in))); got != want {
			t.Errorf("HeaderOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestQueueRetryKeepsBackoff: attempts is the step of the relay's
// backoff (relay.Schedule.Next), and a manual retry's attempt must not
// count as one more step. The old retry kept the count, so the attempt it
// caused lengthened every wait after it.
func TestQueueRetryKeepsBackoff(t *testing.T) {
	t.Parallel()
	e := newQueueEnvWith(t, Options{NoSentCopy: true})
	ctx := context.Background()
	res, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr, Remote: []Address{e.x}, Data: []byte(submitMsg)})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Queued[0]
	// counts returns the tries made and the backoff step.
	counts := func() (int, int) {
		t.Helper()
		it, err := e.db.QueueItem(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return it.Attempts, it.BackoffStep()
	}
	// Two attempts made, the next one an hour away.
	for range 2 {
		if _, err := e.svc.ClaimQueueItems(ctx, []QueueClaim{{id, queueNow.Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	if a, s := counts(); a != 2 || s != 2 {
		t.Fatalf("after two claims: %d attempts, step %d", a, s)
	}
	if n, err := e.svc.QueueRetry(ctx, id); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	// The retried item is due; the try it asked for will not be a step
	// of the backoff, and the attempts stay the tries made.
	if a, s := counts(); a != 2 || s != 1 {
		t.Errorf("after retry: %d attempts, step %d; want 2, 1", a, s)
	}
	// Retried again before the relay took it: nothing more given back.
	if _, err := e.svc.QueueRetry(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if a, s := counts(); a != 2 || s != 1 {
		t.Errorf("after a second retry: %d attempts, step %d; want 2, 1", a, s)
	}
	if _, err := e.svc.ClaimQueueItems(ctx, []QueueClaim{{id, queueNow.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if a, s := counts(); a != 3 || s != 2 {
		t.Errorf("after the retried attempt: %d attempts, step %d; want 3 tries, step 2 (as before the retry)", a, s)
	}
}
