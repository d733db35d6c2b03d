package mailbox

import (
	"context"
	"pillarbox/store"
	"pillarbox/store/storetest"
	"sync"
	"testing"
	"time"
)

var queueNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// queueEnv is a service over a fresh store with users alice and bob
// @example.org, alias team → alice, bob, and a change recorder.
type queueEnv struct {
	svc          *Service
	db           store.Store
	alice, bob   Account
	changes      *changeLog
	aliceAddr, x Address
}

type changeLog struct {
	mu sync.Mutex
	cs []Change
}

func (l *changeLog) MailboxChanged(c Change) {
	l.mu.Lock()
	l.cs = append(l.cs, c)
	l.mu.Unlock()
}

func (l *changeLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cs)
}

func newQueueEnv(t *testing.T) *queueEnv {
	t.Helper()
	return newQueueEnvWith(t, Options{})
}

// newQueueEnvWith is newQueueEnv with opts, whose Domains, BcryptCost
// and (if zero) Now it sets.
func newQueueEnvWith(t *testing.T, opts Options) *queueEnv {
	t.Helper()
	db := storetest.Open(t, pg)
	opts.Domains, opts.BcryptCost = []string{"example.org"}, 4
	if opts.Now == nil {
		opts.Now = func() time.Time { return queueNow }
	}
	svc, err := New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := &queueEnv{svc: svc, db: db, changes: &changeLog{}}
	for _, u := range []string{"alice", "bob"} {
		if err := svc.AddUser(ctx, u+"@example.org", "pw"); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.SetAlias(ctx, "team@example.org", []string{"alice@example.org", "bob@example.org"}); err != nil {
		t.Fatal(err)
	}
	if e.alice, err = svc.Authenticate(ctx, "alice@example.org", "pw"); err != nil {
		t.Fatal(err)
	}
	if e.bob, err = svc.Authenticate(ctx, "bob@example.org", "pw"); err != nil {
		t.Fatal(err)
	}
	e.aliceAddr, _ = ParseAddress("alice@example.org")
	e.x, _ = ParseAddress("x@remote.test")
	svc.AddListener(e.changes)
	return e
}

func (e *queueEnv) inboxCount(t *testing.T, user string) int {
	t.Helper()
	n, err := e.svc.Count(context.Background(), user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *queueEnv) resolve(t *testing.T, addr string) Recipient {
	t.Helper()
	a, err := ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Resolve(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const submitMsg = "From: alice@example.org\r\nSubject: hi\r\nMessage-ID: <s1@example.org>\r\n\r\nbody\r\n"

func TestCanSendAs(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	for addr, want := range map[string]bool{
		"alice@example.org":     true,
		"alice+tag@example.org": true,
		"team@example.org":      true,
		"bob@example.org":       false,
		"bob+alice@example.org": false,
		"nobody@example.org":    false,
		"alice@remote.test":     false,
	} {
		a, _ := ParseAddress(addr)
		got, err := e.svc.CanSendAs(ctx, e.alice, a)
		if err != nil || got != want {
			t.Errorf("CanSendAs(alice, %s) = %v, %v; want %v", addr, got, err, want)
		}
	}
}

func TestSubmitLocalAndRemoteTogether(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	y, _ := ParseAddress("y@other.test")
	res, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr,
		Local:  []Recipient{e.resolve(t, "bob@example.org"), e.resolve(t, "team@example.org")},
		Remote: []Address{e.x, y}, Data: []byte(submitMsg)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accounts != 2 || len(res.Queued) != 2 || res.MessageID != "s1@example.org" {
		t.Errorf("result %+v", res)
	}
	if a, b := e.inboxCount(t, "alice@example.org"), e.inboxCount(t, "bob@example.org"); a != 1 || b != 1 {
		t.Errorf("alice %d, bob %d messages", a, b)
	}
	// bob's INBOX, alice's (through team@) and alice's Sent.
	if n := e.changes.count(); n != 3 {
		t.Errorf("%d changes announced, want 3", n)
	}
	if res.SentFolder != "Sent" || res.SentUID != 1 {
		t.Errorf("sent copy in %q UID %d, want Sent UID 1", res.SentFolder, res.SentUID)
	}
	q, err := e.svc.QueueList(ctx)
	if err != nil || len(q) != 2 {
		t.Fatalf("queue %+v, %v", q, err)
	}
	for i, want := range []string{"x@remote.test", "y@other.test"} {
		it := q[i]
		if it.ID != res.Queued[i] || it.Recipient != want || it.Sender != "alice@example.org" || it.AccountID != e.alice.ID ||
			it.BlobID != res.ID || !it.Created.Equal(queueNow) || !it.NextAttempt.Equal(queueNow) || it.Attempts != 0 ||
			it.MessageID != "s1@example.org" || it.Size != int64(len(submitMsg)) {
			t.Errorf("item %d: %+v", i, it)
		}
	}
	if n, _ := e.db.CountBlobs(ctx); n != 1 {
		t.Errorf("%d blobs, want one shared", n)
	}
}

func TestSubmitAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	// An account that does not exist fails the transaction after the
	// queue rows were written: none of them may stay.
	_, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr,
		Local:  []Recipient{e.resolve(t, "bob@example.org"), {Accounts: []int64{9999}}},
		Remote: []Address{e.x}, Data: []byte(submitMsg)})
	if err == nil {
		t.Fatal("submit to a missing account succeeded")
	}
	if q, _ := e.svc.QueueList(ctx); len(q) != 0 {
		t.Errorf("queue %+v", q)
	}
	if n, _ := e.db.CountBlobs(ctx); n != 0 || e.inboxCount(t, "bob@example.org") != 0 || e.changes.count() != 0 {
		t.Errorf("half a submission stored: %d blobs", n)
	}
	if _, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr, Data: []byte(submitMsg)}); err == nil {
		t.Error("submit without recipients")
	}
	bob, _ := ParseAddress("bob@example.org")
	if _, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr, Remote: []Address{bob}, Data: []byte(submitMsg)}); err == nil {
		t.Error("a local address queued as remote")
	}
}
