package relay

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store"
)

// A whole schedule: bob is deferred twice and accepted on the third
// try, carol is refused at once and bounces, dave is deferred until the
// message is too old and bounces then. They share one transaction per
// attempt, and the clock only moves when the test moves it.
func TestWholeSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.sink.setScript("bob@remote.test", 451, 451, 250)
	e.sink.setScript("carol@remote.test", 550)
	e.sink.setScript("dave@remote.test", 451)
	e.submit("whole schedule", "bob@remote.test", "carol@remote.test", "dave@remote.test")
	o := e.options()
	var mu sync.Mutex
	outcomes := map[mailbox.QueueOutcome]int{}
	bounces := 0
	o.OnAttempt = func(oc mailbox.QueueOutcome) { mu.Lock(); outcomes[oc]++; mu.Unlock() }
	o.OnBounce = func() { mu.Lock(); bounces++; mu.Unlock() }
	e.start(o)

	moves := e.runSchedule()
	m := time.Minute
	// Retry 1m, 2m (repeating), max age 10m.
	if got, want := durations(moves...), durations(1*m, 3*m, 5*m, 7*m, 9*m, 10*m); got != want {
		t.Errorf("clock moves %s, want %s", got, want)
	}
	if got, want := durations(e.sink.rcptTimes("bob@remote.test")...), durations(0, 1*m, 3*m); got != want {
		t.Errorf("bob tried at %s, want %s", got, want)
	}
	if got, want := durations(e.sink.rcptTimes("carol@remote.test")...), durations(0); got != want {
		t.Errorf("carol tried at %s, want %s", got, want)
	}
	if got, want := durations(e.sink.rcptTimes("dave@remote.test")...), durations(0, 1*m, 3*m, 5*m, 7*m, 9*m, 10*m); got != want {
		t.Errorf("dave tried at %s, want %s", got, want)
	}

	msg := e.waitMsg()
	if !slices.Equal(msg.rcpts, []string{"bob@remote.test"}) || msg.from != "alice@example.org" {
		t.Errorf("sink got from %s to %v", msg.from, msg.rcpts)
	}
	if strings.HasPrefix(msg.data, "Return-Path:") || !strings.Contains(msg.data, "Subject: whole schedule") {
		t.Errorf("relayed data:\n%s", msg.data)
	}
	if msg.helo != "relay.example.org" {
		t.Errorf("EHLO %q", msg.helo)
	}
	select {
	case extra := <-e.sink.msgs:
		t.Errorf("a second message reached the sink: %v", extra.rcpts)
	default:
	}

	if q := e.queue(); len(q) != 0 {
		t.Errorf("queue not empty: %+v", q)
	}
	inbox := e.inbox("alice@example.org")
	if len(inbox) != 2 {
		t.Fatalf("alice has %d messages, want 2 bounces", len(inbox))
	}
	wantContains(t, "carol's bounce", inbox[0],
		"Return-Path: <>\r\n",
		"From: Mail Delivery System <MAILER-DAEMON@relay.example.org>",
		"Content-Type: multipart/report; report-type=delivery-status;",
		"Final-Recipient: rfc822; carol@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.remote.test\r\nDiagnostic-Code: smtp; 550 5.1.1 No such user here\r\n",
		"Subject: whole schedule",
		"<carol@remote.test>: host mx.remote.test said: 550 5.1.1 No such user here")
	if strings.Contains(inbox[0], "bob@remote.test\r\nAction") || strings.Contains(inbox[0], "dave@remote.test\r\nAction") {
		t.Errorf("carol's bounce reports others:\n%s", inbox[0])
	}
	wantContains(t, "dave's bounce", inbox[1],
		"Final-Recipient: rfc822; dave@remote.test\r\nAction: failed\r\nStatus: 4.2.0\r\n",
		"Diagnostic-Code: smtp; 451 4.2.0 Mailbox busy, try later",
		"gave up after 7 attempts over 10m0s")
	log := e.logs.String()
	if n := strings.Count(log, "relay: deferred"); n != 2+6 {
		t.Errorf("%d deferred log lines, want 8:\n%s", n, log)
	}
	wantContains(t, "log", log, "relay: delivered", "relay: failed", "relay: expired", "relay: notice delivered",
		"remote=mx.remote.test", `reply="451 4.2.0 Mailbox busy, try later"`)
	// The hooks saw each recorded attempt: bob deferred twice then
	// delivered, carol failed, dave deferred six times then expired;
	// carol's and dave's bounces.
	mu.Lock()
	defer mu.Unlock()
	want := map[mailbox.QueueOutcome]int{mailbox.QueueDelivered: 1, mailbox.QueueDeferred: 8, mailbox.QueueFailed: 2}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) || bounces != 2 {
		t.Errorf("attempts %v and %d bounces, want %v and 2", outcomes, bounces, want)
	}
}

func TestRecipientsShareTransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.submit("two", "bob@remote.test", "carol@remote.test")
	e.start(e.options())
	msg := e.waitMsg()
	if !slices.Equal(msg.rcpts, []string{"bob@remote.test", "carol@remote.test"}) {
		t.Errorf("one transaction for %v", msg.rcpts)
	}
	if e.waitIdle() != (time.Time{}) {
		t.Error("queue not empty")
	}
}

func TestDelayWarningOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.sink.setScript("bob@remote.test", 451)
	e.submit("slow", "bob@remote.test")
	o := e.options()
	o.Schedule = Schedule{Retry: []time.Duration{2 * time.Minute}, MaxAge: 10 * time.Minute, DelayWarning: 5 * time.Minute}
	e.start(o)
	moves := e.runSchedule()
	m := time.Minute
	if got, want := durations(moves...), durations(2*m, 4*m, 5*m, 7*m, 9*m, 10*m); got != want {
		t.Errorf("attempts at %s, want %s", got, want)
	}
	inbox := e.inbox("alice@example.org")
	if len(inbox) != 2 {
		t.Fatalf("alice has %d messages, want a warning and a bounce", len(inbox))
	}
	wantContains(t, "warning", inbox[0], "Subject: Delayed Mail (still being retried)",
		"Action: delayed\r\nStatus: 4.2.0\r\n", "Will-Retry-Until: Tue, 24 Nov 2026 12:10:00 +0000",
		"Last-Attempt-Date: Tue, 24 Nov 2026 12:05:00 +0000", "keep trying until")
	wantContains(t, "bounce", inbox[1], "Subject: Undelivered Mail Returned to Sender", "Action: failed")
}

func TestNullMXFailsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.options()
	o.Resolver = fakeResolver{"nullmx.test": {{Host: ".", Pref: 0}}}
	e.submit("null", "bob@nullmx.test")
	e.start(o)
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatalf("still queued, next %v", next)
	}
	if d := e.dialer.dialed(); len(d) != 0 {
		t.Errorf("dialed %v for a null MX", d)
	}
	inbox := e.inbox("alice@example.org")
	if len(inbox) != 1 {
		t.Fatalf("%d messages, want a bounce", len(inbox))
	}
	wantContains(t, "bounce", inbox[0], "Final-Recipient: rfc822; bob@nullmx.test\r\nAction: failed\r\nStatus: 5.1.10\r\n",
		"does not accept mail (null MX)")
	if strings.Contains(inbox[0], "Diagnostic-Code") || strings.Contains(inbox[0], "Remote-MTA") {
		t.Errorf("a null MX has no remote to quote:\n%s", inbox[0])
	}
}

func TestMXOrderAndHostLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.options()
	var mxs []*net.MX
	for i, h := range []string{"a", "b", "c", "d", "e", "f"} {
		mxs = append(mxs, &net.MX{Host: h + ".remote.test.", Pref: uint16(10 * (i + 1))})
	}
	mxs = append(mxs, &net.MX{Host: "first.remote.test.", Pref: 5})
	o.Resolver = fakeResolver{"remote.test": mxs}
	dead := refusedAddr(t)
	for _, m := range mxs {
		e.dialer.set(strings.TrimSuffix(m.Host, ".")+":25", dead)
	}
	e.submit("mx", "bob@remote.test")
	e.start(o)
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next attempt %v, want a deferral", next)
	}
	want := []string{"first.remote.test:25", "a.remote.test:25", "b.remote.test:25", "c.remote.test:25", "d.remote.test:25"}
	if got := e.dialer.dialed(); !slices.Equal(got, want) {
		t.Errorf("dialed %v, want %v", got, want)
	}
	q := e.queue()
	if len(q) != 1 || q[0].Attempts != 1 || !strings.Contains(q[0].LastReply, "d.remote.test") {
		t.Errorf("queue %+v", q)
	}
	att, err := e.db.QueueAttempts(context.Background(), q[0].ID)
	if err != nil || len(att) != 1 || att[0].Remote != "d.remote.test" || !strings.Contains(att[0].Reply, "refused") {
		t.Errorf("attempts %+v, %v", att, err)
	}
}

func TestOrderMXShufflesEqualPreferences(t *testing.T) {
	t.Parallel()
	mxs := []*net.MX{{Host: "b.", Pref: 10}, {Host: "c.", Pref: 20}, {Host: "a.", Pref: 10}, {Host: "B.", Pref: 30}}
	seen := map[string]bool{}
	reverse := func(n int, swap func(i, j int)) {
		for i := 0; i < n/2; i++ {
			swap(i, n-1-i)
		}
	}
	none := func(int, func(i, j int)) {}
	for _, shuffle := range []func(int, func(i, j int)){reverse, none} {
		got := orderMX(mxs, shuffle)
		seen[strings.Join(got, " ")] = true
		if len(got) != 3 || got[2] != "c" {
			t.Errorf("orderMX = %v", got)
		}
	}
	if !seen["a b c"] || !seen["b a c"] {
		t.Errorf("equal preferences not shuffled: %v", seen)
	}
	if !isNullMX([]*net.MX{{Host: "."}}) || isNullMX(nil) || isNullMX([]*net.MX{{Host: "."}, {Host: "a."}}) {
		t.Error("isNullMX")
	}
}

func TestImplicitMX(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.options()
	o.Resolver = fakeResolver{}
	e.dialer.set("remote.test:25", e.sink.addr)
	e.dialer.set("gone.test:25", "nxdomain")
	e.submit("implicit", "bob@remote.test", "x@gone.test")
	e.start(o)
	msg := e.waitMsg()
	if !slices.Equal(msg.rcpts, []string{"bob@remote.test"}) {
		t.Errorf("delivered to %v", msg.rcpts)
	}
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatalf("still queued")
	}
	inbox := e.inbox("alice@example.org")
	if len(inbox) != 1 {
		t.Fatalf("%d messages, want the bounce for gone.test", len(inbox))
	}
	wantContains(t, "bounce", inbox[0], "Final-Recipient: rfc822; x@gone.test\r\nAction: failed\r\nStatus: 5.1.2\r\n")
}

func TestOpportunisticSTARTTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testTLS(t))
	e.submit("tls", "bob@remote.test")
	e.start(e.options())
	if msg := e.waitMsg(); !msg.tls || msg.helo != "relay.example.org" {
		t.Errorf("tls %v, helo %q", msg.tls, msg.helo)
	}
	e.waitIdle()
	wantContains(t, "log", e.logs.String(), "msg=\"relay: delivered\"", "tls=true")
	// Without STARTTLS on offer the message goes in the clear.
	e2 := newEnv(t, nil)
	e2.submit("plain", "bob@remote.test")
	e2.start(e2.options())
	if msg := e2.waitMsg(); msg.tls {
		t.Error("tls without an offer")
	}
}

// A bounce is never bounced: a failed message with the null sender just
// goes.
func TestNoBounceForBounce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.sink.setScript("bob@remote.test", 550)
	enqueueRaw(t, e, "", "bob@remote.test")
	e.start(e.options())
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatal("still queued")
	}
	if n := len(e.inbox("alice@example.org")); n != 0 {
		t.Errorf("%d messages in alice's INBOX", n)
	}
	wantContains(t, "log", e.logs.String(), "relay: failed", "no notice for a message without sender")
}

// A remote sender's bounce is queued with the null sender and delivered
// to the sender's MX.
func TestBounceToRemoteSender(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.options()
	o.Resolver = fakeResolver{"remote.test": {{Host: "mx.remote.test.", Pref: 10}}, "elsewhere.test": {{Host: "mx.elsewhere.test", Pref: 10}}}
	e.dialer.set("mx.elsewhere.test:25", e.sink.addr)
	e.sink.setScript("bob@remote.test", 550)
	enqueueRaw(t, e, "zed@elsewhere.test", "bob@remote.test")
	e.start(o)
	msg := e.waitMsg()
	if msg.from != "" || !slices.Equal(msg.rcpts, []string{"zed@elsewhere.test"}) {
		t.Errorf("bounce from <%s> to %v", msg.from, msg.rcpts)
	}
	wantContains(t, "bounce", msg.data, "Final-Recipient: rfc822; bob@remote.test", "To: <zed@elsewhere.test>")
	if strings.Contains(msg.data, "Return-Path") {
		t.Error("Return-Path in transit")
	}
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatal("still queued")
	}
}

// enqueueRaw queues a message the way no submission can: with any
// sender.
func enqueueRaw(t *testing.T, e *env, sender, rcpt string) {
	t.Helper()
	data := []byte("From: <" + sender + ">\r\nSubject: raw\r\nMessage-ID: <raw@test>\r\n\r\nbody\r\n")
	a, _ := mailbox.ParseAddress(rcpt)
	err := e.db.Write(context.Background(), func(tx store.Tx) error {
		id, err := tx.InsertBlob(&store.Blob{Data: data, Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		_, err = tx.Enqueue(store.NewQueueItem{BlobID: id, Sender: sender, Recipient: a.String(), Domain: a.Domain, Created: t0, NextAttempt: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An attempt that was in flight when the process died (claimed, never
// finished) is retried at its lease.
func TestClaimedItemRetriedAfterCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	res := e.submit("crash", "bob@remote.test")
	o := e.options()
	if _, err := e.svc.ClaimQueueItems(context.Background(), []mailbox.QueueClaim{{ID: res.Queued[0], Next: o.Schedule.Lease(t0, 1)}}); err != nil {
		t.Fatal(err)
	}
	e.start(o) // a new process
	next := e.waitIdle()
	if !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v, want the lease at +1m", next)
	}
	e.clock.Set(next)
	e.waitMsg()
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatal("still queued")
	}
}

// Connections per domain stay within the limit, and another domain is
// not held up by a busy one.
func TestPerDomainConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.options()
	o.PerDomain = 2
	o.Resolver = fakeResolver{"remote.test": {{Host: "mx.remote.test.", Pref: 10}}, "other.test": {{Host: "mx.other.test", Pref: 10}}}
	other := startSink(t, e.clock.Now, nil)
	e.dialer.set("mx.other.test:25", other.addr)
	gate := make(chan struct{})
	e.sink.mu.Lock()
	e.sink.gate, e.sink.arrivals = gate, make(chan string, 10)
	e.sink.mu.Unlock()
	for i := 0; i < 6; i++ {
		e.submit("msg "+string(rune('a'+i)), "bob@remote.test")
	}
	e.start(o)
	for i := 0; i < 2; i++ {
		select {
		case <-e.sink.arrivals:
		case <-time.After(waitLimit):
			t.Fatal("two connections did not arrive")
		}
	}
	e.submit("other", "x@other.test")
	e.runner.Kick()
	select {
	case <-other.msgs:
	case <-time.After(waitLimit):
		t.Fatal("other domain held up")
	}
	close(gate)
	for i := 0; i < 6; i++ {
		e.waitMsg()
	}
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatal("still queued")
	}
	e.sink.mu.Lock()
	defer e.sink.mu.Unlock()
	if e.sink.max != 2 {
		t.Errorf("at most %d connections at once, want 2", e.sink.max)
	}
}

// The CLI changes the queue from another process: the scheduler notices
// through the generation counter, without a kick.
func TestNoticesOtherProcessChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.sink.setScript("bob@remote.test", 451, 250)
	o := e.options()
	o.Schedule.Retry = []time.Duration{time.Hour}
	o.Schedule.MaxAge = 10 * time.Hour
	o.PollInterval = 5 * time.Millisecond
	e.submit("retry", "bob@remote.test")
	e.start(o)
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Hour)) {
		t.Fatalf("next %v", next)
	}
	// Another Service over the same file, as the CLI would have.
	db2 := e.loc.Open(t)
	svc2, _ := mailbox.New(db2, mailbox.Options{Domains: []string{"example.org"}, Now: e.clock.Now})
	if n, err := svc2.QueueRetry(context.Background(), 0); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	if msg := e.waitMsg(); !slices.Equal(msg.rcpts, []string{"bob@remote.test"}) {
		t.Errorf("delivered to %v", msg.rcpts)
	}
	if got := durations(e.sink.rcptTimes("bob@remote.test")...); got != durations(0, 0) {
		t.Errorf("tried at %s", got)
	}
}

// Shutdown interrupts an attempt without losing the item or counting a
// deferral.
func TestShutdownKeepsInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	gate := make(chan struct{})
	defer close(gate)
	e.sink.mu.Lock()
	e.sink.gate, e.sink.arrivals = gate, make(chan string, 10)
	e.sink.mu.Unlock()
	e.submit("shutdown", "bob@remote.test")
	e.start(e.options())
	select {
	case <-e.sink.arrivals:
	case <-time.After(waitLimit):
		t.Fatal("no attempt")
	}
	e.stop()
	q := e.queue()
	if len(q) != 1 || q[0].Attempts != 1 || !q[0].NextAttempt.Equal(t0.Add(time.Minute)) || q[0].LastReply != "" {
		t.Errorf("queue after shutdown %+v", q)
	}
	wantContains(t, "log", e.logs.String(), "relay: interrupted")
}

func TestHoldAndRelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	res := e.submit("held", "bob@remote.test")
	ctx := context.Background()
	if err := e.svc.QueueHold(ctx, res.Queued[0]); err != nil {
		t.Fatal(err)
	}
	e.start(e.options())
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatalf("held item scheduled at %v", next)
	}
	if _, err := e.svc.QueueRetry(ctx, res.Queued[0]); err == nil {
		t.Error("retry of a held item")
	}
	if err := e.svc.QueueRelease(ctx, res.Queued[0]); err != nil {
		t.Fatal(err)
	}
	e.runner.Kick()
	e.waitMsg()
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatal("still queued")
	}
	if err := e.svc.QueueDelete(ctx, res.Queued[0]); err == nil {
		t.Error("delete of a delivered item")
	}
}

// A message for more than 100 recipients of one domain goes out in
// transactions of at most 100 RCPTs (RFC 5321 4.5.3.1.8: a server need
// take no more), and every recipient gets it. Found in review: a group
// was never cut, so 250 recipients went in one transaction.
func TestManyRecipientsSplitIntoTransactions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var rcpts []string
	var remote []mailbox.Address
	for i := range 250 {
		a, _ := mailbox.ParseAddress(fmt.Sprintf("r%d@remote.test", i))
		rcpts, remote = append(rcpts, a.String()), append(remote, a)
	}
	from, _ := mailbox.ParseAddress("alice@example.org")
	_, err := e.svc.Submit(context.Background(), &mailbox.Submission{Account: e.alice, From: from, Remote: remote,
		Data: []byte("From: alice@example.org\r\nTo: undisclosed-recipients:;\r\nSubject: many\r\nMessage-ID: <many@example.org>\r\n\r\nHello.\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	// With per_domain 4 the scheduler reads up to 400 items for the
	// domain at once: all 250 in one read.
	e.start(e.options())
	got := map[string]bool{}
	for len(got) < len(rcpts) {
		m := e.waitMsg()
		if len(m.rcpts) > 100 {
			t.Fatalf("a transaction with %d recipients", len(m.rcpts))
		}
		for _, r := range m.rcpts {
			got[r] = true
		}
	}
}

// startSlowAttempt submits a message and starts the runner with o; it
// returns once the attempt is held at MAIL, with the item's id and the
// gate that lets it go on.
func (e *env) startSlowAttempt(o Options) (int64, chan struct{}) {
	e.t.Helper()
	gate := make(chan struct{})
	e.sink.mu.Lock()
	e.sink.gate, e.sink.arrivals = gate, make(chan string, 10)
	e.sink.mu.Unlock()
	id := e.submit("slow", "bob@remote.test").Queued[0]
	e.start(o)
	select {
	case <-e.sink.arrivals:
	case <-time.After(waitLimit):
		e.t.Fatal("no attempt")
	}
	return id, gate
}

// A running attempt keeps its item: the runner renews the lease every
// third of a lease, so another node sharing the queue never finds the
// item due while the attempt runs, however long it takes.
func TestLeaseRenewedWhileAttemptRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.options()
	renewed := make(chan []int64, 10)
	o.renewed = func(ids []int64) { renewed <- ids }
	id, gate := e.startSlowAttempt(o)
	// The claim's lease ends at +1m. The attempt still runs at +20s,
	// +40s, ... +100s, well past it.
	ctx := context.Background()
	for k := 1; k <= 5; k++ {
		now := t0.Add(time.Duration(k) * 20 * time.Second)
		e.clock.Set(now)
		select {
		case ids := <-renewed:
			if !slices.Equal(ids, []int64{id}) {
				t.Fatalf("at %v renewed %v, want [%d]", now.Sub(t0), ids, id)
			}
		case <-time.After(waitLimit):
			t.Fatalf("no renewal at %v", now.Sub(t0))
		}
		q := e.queue()
		if len(q) != 1 || !q[0].NextAttempt.Equal(now.Add(time.Minute)) || q[0].Attempts != 1 {
			t.Fatalf("at %v the item is %+v, want due at +1m from then after 1 attempt", now.Sub(t0), q)
		}
		// What another node sees: nothing due.
		if due, err := e.svc.DueQueueItems(ctx, now, 10); err != nil || len(due) != 0 {
			t.Fatalf("at %v due: %v, %v", now.Sub(t0), due, err)
		}
	}
	close(gate)
	e.waitMsg()
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatal("still queued")
	}
}

// A renewal that fails (the store is away) is tried again a tenth of a
// lease later, not at once over and over.
func TestLeaseRenewalBacksOffAfterFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.options()
	failed := make(chan time.Time, 100)
	o.renewFailed = func(retry time.Time) { failed <- retry }
	_, gate := e.startSlowAttempt(o)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	next := func() time.Time {
		select {
		case r := <-failed:
			return r
		case <-time.After(waitLimit):
			t.Fatal("no failed renewal")
			return time.Time{}
		}
	}
	// The lease is a minute: renewals are due at +20 s, then every 6 s.
	e.clock.Set(t0.Add(20 * time.Second))
	if r := next(); !r.Equal(t0.Add(26 * time.Second)) {
		t.Fatalf("after the failure at +20s, tried again at %v, want +26s", r.Sub(t0))
	}
	e.clock.Set(t0.Add(26 * time.Second))
	if r := next(); !r.Equal(t0.Add(32 * time.Second)) {
		t.Fatalf("after the failure at +26s, tried again at %v, want +32s", r.Sub(t0))
	}
	if n := len(failed); n != 0 {
		t.Errorf("%d more failed renewals before the clock moved", n)
	}
	close(gate)
}
