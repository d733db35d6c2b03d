package mailbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// quotaMsg is a message of about n octets.
func quotaMsg(id string, n int) []byte {
	head := "From: x@remote.test\r\nSubject: q\r\nMessage-ID: <" + id + ">\r\n\r\n"
	return []byte(head + strings.Repeat("x", max(n-len(head)-2, 0)) + "\r\n")
}

func (e *queueEnv) setQuota(t *testing.T, user string, limit int64) {
	t.Helper()
	if err := e.svc.SetQuota(context.Background(), user, limit); err != nil {
		t.Fatal(err)
	}
}

func (e *queueEnv) usage(t *testing.T, user string) int64 {
	t.Helper()
	q, err := e.svc.UserQuota(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return q.Usage
}

func wantQuotaError(t *testing.T, what string, err error, permanent bool) {
	t.Helper()
	var qe *QuotaError
	if !errors.Is(err, ErrOverQuota) || !errors.As(err, &qe) {
		t.Fatalf("%s: %v, want ErrOverQuota", what, err)
	}
	if qe.Permanent() != permanent {
		t.Fatalf("%s: %v: permanent %v, want %v", what, err, qe.Permanent(), permanent)
	}
}

// Delivery to an account whose quota has no room fails with a
// temporary ErrOverQuota, one larger than the whole quota with a
// permanent one; nothing is stored. With Partial, the others get it.
func TestDeliverOverQuota(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	alice, bob := e.resolve(t, "alice@example.org"), e.resolve(t, "bob@example.org")
	first := quotaMsg("q1@remote.test", 600)
	e.setQuota(t, "alice@example.org", 1000)
	if _, err := e.svc.Deliver(ctx, &Delivery{Recipients: []Recipient{alice}, Data: first}); err != nil {
		t.Fatal(err)
	}
	if got := e.usage(t, "alice@example.org"); got != int64(len(first)) {
		t.Fatalf("usage %d after one message of %d", got, len(first))
	}
	// The second does not fit now, but would after a clean-up.
	_, err := e.svc.Deliver(ctx, &Delivery{Recipients: []Recipient{alice, bob}, Data: quotaMsg("q2@remote.test", 600)})
	wantQuotaError(t, "second message", err, false)
	if e.inboxCount(t, "alice@example.org") != 1 || e.inboxCount(t, "bob@example.org") != 0 {
		t.Fatal("a refused delivery stored something")
	}
	_, err = e.svc.Deliver(ctx, &Delivery{Recipients: []Recipient{alice}, Data: quotaMsg("big@remote.test", 1001)})
	wantQuotaError(t, "message larger than the quota", err, true)

	// Partial: bob gets it, alice is reported.
	res, err := e.svc.Deliver(ctx, &Delivery{Recipients: []Recipient{alice, bob}, Data: quotaMsg("q3@remote.test", 600), Partial: true})
	if err != nil || res.Accounts != 1 || len(res.OverQuota) != 1 || res.OverQuota[0].Recipient.String() != "alice@example.org" ||
		res.OverQuota[0].Err.Permanent() {
		t.Fatalf("partial delivery: %+v, %v", res, err)
	}
	if e.inboxCount(t, "alice@example.org") != 1 || e.inboxCount(t, "bob@example.org") != 1 {
		t.Fatal("partial delivery went to the wrong accounts")
	}
	// Partial with no account that has room fails as a whole.
	_, err = e.svc.Deliver(ctx, &Delivery{Recipients: []Recipient{alice}, Data: quotaMsg("q4@remote.test", 600), Partial: true})
	wantQuotaError(t, "partial delivery to a full account only", err, false)

	// The quota raised, the same message goes in.
	e.setQuota(t, "alice@example.org", 0)
	if _, err := e.svc.Deliver(ctx, &Delivery{Recipients: []Recipient{alice}, Data: quotaMsg("q2@remote.test", 600)}); err != nil {
		t.Fatalf("after removing the quota: %v", err)
	}
	if e.inboxCount(t, "alice@example.org") != 2 {
		t.Fatal("message not delivered after the quota was removed")
	}
}

// An alias to two accounts, one of them full, reaches the other with
// Partial; the alias is reported for the full one.
func TestDeliverPartialAlias(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	e.setQuota(t, "bob@example.org", 100)
	team := e.resolve(t, "team@example.org")
	res, err := e.svc.Deliver(context.Background(), &Delivery{Recipients: []Recipient{team}, Data: quotaMsg("t@remote.test", 500), Partial: true})
	if err != nil || res.Accounts != 1 || len(res.OverQuota) != 1 || res.OverQuota[0].Err.Account != e.bob.ID {
		t.Fatalf("%+v, %v", res, err)
	}
	if e.inboxCount(t, "alice@example.org") != 1 || e.inboxCount(t, "bob@example.org") != 0 {
		t.Fatal("wrong accounts")
	}
}

// APPEND and COPY are refused past the quota; a MOVE within the account
// is not, since it adds nothing; usage follows each step.
func TestAppendCopyMoveQuota(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	msg := quotaMsg("a1@remote.test", 400)
	size := int64(len(msg))
	e.setQuota(t, "alice@example.org", 2*size)
	f, _, err := e.svc.Append(ctx, e.alice.ID, "INBOX", msg, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Copy(ctx, e.alice.ID, f.ID, UIDSet{{Start: 1, Stop: 1}}, "Archive", false, nil); err != nil {
		t.Fatalf("copy within the quota: %v", err)
	}
	if got := e.usage(t, "alice@example.org"); got != 2*size {
		t.Fatalf("usage %d after append and copy, want %d", got, 2*size)
	}
	_, _, err = e.svc.Append(ctx, e.alice.ID, "INBOX", quotaMsg("a2@remote.test", 400), nil, time.Time{})
	wantQuotaError(t, "append to a full account", err, false)
	_, err = e.svc.Copy(ctx, e.alice.ID, f.ID, UIDSet{{Start: 1, Stop: 1}}, "Drafts", false, nil)
	wantQuotaError(t, "copy in a full account", err, false)
	if res, err := e.svc.Copy(ctx, e.alice.ID, f.ID, UIDSet{{Start: 1, Stop: 1}}, "Drafts", true, nil); err != nil || len(res.DstUIDs) != 1 {
		t.Fatalf("move in a full account: %+v, %v", res, err)
	}
	if got := e.usage(t, "alice@example.org"); got != 2*size {
		t.Fatalf("usage %d after the move, want %d", got, 2*size)
	}
	_, _, err = e.svc.Append(ctx, e.alice.ID, "INBOX", quotaMsg("huge@remote.test", int(3*size)), nil, time.Time{})
	wantQuotaError(t, "append larger than the quota", err, true)
	if e.inboxCount(t, "alice@example.org") != 0 {
		t.Fatal("refused APPEND stored a message")
	}
}

// Submission stores the local copies by grace (their quotas were
// checked at RCPT), even over a quota; the sender's Sent copy that does
// not fit is skipped, the message still sent; a notice to a full sender
// is dropped without failing the delivery it goes with.
func TestSubmitAndNoticeOverQuota(t *testing.T) {
	t.Parallel()
	e, _ := sentEnv(t, Options{})
	ctx := context.Background()
	e.setQuota(t, "bob@example.org", 10)
	bob := e.resolve(t, "bob@example.org")
	if _, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr, Local: []Recipient{bob}, Data: sentMsg("s1@example.org")}); err != nil {
		t.Fatalf("submission admitted at RCPT: %v", err)
	}
	if got := e.usage(t, "bob@example.org"); got <= 10 {
		t.Fatalf("bob's usage %d: the admitted message was not stored by grace", got)
	}

	e.setQuota(t, "alice@example.org", 10)
	before := e.usage(t, "alice@example.org") // the first message's Sent copy
	blobs, err := e.db.CountBlobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := e.submit(t, &Submission{Data: sentMsg("s2@example.org")})
	if !res.SentOverQuota || res.SentFolder != "" || len(res.Queued) != 1 {
		t.Fatalf("submission from a full account: %+v", res)
	}
	if got := e.usage(t, "alice@example.org"); got != before {
		t.Fatalf("alice's usage %d after a skipped Sent copy, want %d", got, before)
	}

	// A bounce to the full sender is dropped; the queue item goes.
	claimed, err := e.svc.ClaimQueueItems(ctx, []QueueClaim{{res.Queued[0], queueNow.Add(time.Minute)}})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	sent, err := e.svc.FinishQueueItems(ctx, []QueueResult{{ID: res.Queued[0], Outcome: QueueFailed}},
		&Notice{To: "alice@example.org", AccountID: e.alice.ID, Data: []byte("Subject: bounce\r\n\r\nfailed\r\n")})
	if err != nil || sent.Accounts != 0 || !strings.Contains(sent.Dropped, "quota") {
		t.Fatalf("bounce to a full sender: %+v, %v", sent, err)
	}
	if items, _ := e.svc.QueueList(ctx); len(items) != 0 {
		t.Fatal("the failed item stayed")
	}
	if n, _ := e.db.CountBlobs(ctx); n != blobs {
		t.Fatalf("%d blobs after the bounce, want the %d before the second message", n, blobs)
	}
}

// CheckQuota, the RCPT-time check, refuses a full account and one whose
// room is less than the declared size, and passes an unknown account.
func TestCheckQuota(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	msg := quotaMsg("c1@remote.test", 500)
	e.setQuota(t, "alice@example.org", int64(len(msg))+100)
	if err := e.svc.CheckQuota(ctx, []int64{e.alice.ID}, 0); err != nil {
		t.Fatalf("empty account: %v", err)
	}
	if _, err := e.svc.Deliver(ctx, &Delivery{Recipients: []Recipient{e.resolve(t, "alice@example.org")}, Data: msg}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CheckQuota(ctx, []int64{e.alice.ID}, 100); err != nil {
		t.Fatalf("100 octets of room, 100 declared: %v", err)
	}
	wantQuotaError(t, "101 declared", e.svc.CheckQuota(ctx, []int64{e.alice.ID}, 101), false)
	// An alias with a member that has room is not refused for a full one.
	if err := e.svc.CheckQuota(ctx, []int64{e.alice.ID, e.bob.ID}, 101); err != nil {
		t.Fatalf("alias of a full account and one with room: %v", err)
	}
	wantQuotaError(t, "more than the quota declared", e.svc.CheckQuota(ctx, []int64{e.alice.ID}, int64(len(msg))+101), true)
	if err := e.svc.CheckQuota(ctx, []int64{99999}, 1<<30); err != nil {
		t.Fatalf("unknown account: %v", err)
	}
	if err := e.svc.SetQuota(ctx, "nobody@example.org", 1); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("quota of an unknown user: %v", err)
	}
}

// Options.DefaultQuota is the quota of accounts made from then on, and
// of a new domain's postmaster; the accounts that exist keep theirs.
func TestDefaultQuota(t *testing.T) {
	t.Parallel()
	e := newQueueEnvWith(t, Options{DefaultQuota: 5 << 20})
	ctx := context.Background()
	if q, err := e.svc.UserQuota(ctx, "alice@example.org"); err != nil || q.Limit != 5<<20 {
		t.Fatalf("alice made with a default quota: %+v, %v", q, err)
	}
	other, err := New(e.db, Options{Domains: []string{"example.org"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.AddUser(ctx, "carol@example.org", "pw-carol"); err != nil {
		t.Fatal(err)
	}
	if q, err := other.UserQuota(ctx, "carol@example.org"); err != nil || q.Limit != 0 {
		t.Fatalf("carol made without a default: %+v, %v", q, err)
	}
	if q, err := e.svc.UserQuota(ctx, "alice@example.org"); err != nil || q.Limit != 5<<20 {
		t.Fatalf("alice after another service: %+v, %v", q, err)
	}
	// A new domain's postmaster gets none: the DMARC and TLS reports go
	// there, and a full postmaster would refuse abuse reports.
	if _, err := e.svc.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	if q, err := e.svc.UserQuota(ctx, "postmaster@example.net"); err != nil || q.Limit != 0 {
		t.Fatalf("a new domain's postmaster: %+v, %v, want no quota", q, err)
	}
}

// A mail app's upload of its Sent copy replaces the copy submission
// filed, so it is taken even when the account is full; another message
// is not.
func TestSentUploadAtFullQuota(t *testing.T) {
	t.Parallel()
	e, _ := sentEnv(t, Options{})
	ctx := context.Background()
	data := sentMsg("full@example.org")
	if res := e.submit(t, &Submission{Data: data}); res.SentFolder == "" {
		t.Fatalf("no Sent copy filed: %+v", res)
	}
	used := e.usage(t, "alice@example.org")
	// Less room than one more message takes.
	e.setQuota(t, "alice@example.org", used+int64(len(data))/2)
	if _, _, err := e.svc.Append(ctx, e.alice.ID, "Sent", data, []string{`\Seen`}, time.Time{}); err != nil {
		t.Fatalf("upload of the Sent copy at a full quota: %v", err)
	}
	if got := e.usage(t, "alice@example.org"); got != used {
		t.Fatalf("usage %d after the replacing upload, want %d", got, used)
	}
	_, _, err := e.svc.Append(ctx, e.alice.ID, "Sent", sentMsg("other@example.org"), nil, time.Time{})
	wantQuotaError(t, "upload of another message", err, false)
	if got := len(e.messagesIn(t, e.alice.ID, "Sent")); got != 1 {
		t.Fatalf("%d messages in Sent, want the upload alone", got)
	}
}

// AccountQuota reads by account id; a deleted account is ErrAccountGone.
func TestAccountQuota(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	e.setQuota(t, "bob@example.org", 2048)
	if q, err := e.svc.AccountQuota(ctx, e.bob.ID); err != nil || q.Limit != 2048 || q.Usage != 0 {
		t.Fatalf("%+v, %v", q, err)
	}
	if err := e.svc.DeleteUser(ctx, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AccountQuota(ctx, e.bob.ID); !errors.Is(err, ErrAccountGone) {
		t.Fatalf("deleted account: %v", err)
	}
}
