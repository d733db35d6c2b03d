package mailbox

import (
	"context"
	"testing"
)

// A delivery's notice commits with it: to a remote sender it is queued
// with the null sender and NOTIFY=NEVER (and REQUIRETLS when asked); to
// a local one it lands in the INBOX; to a local address nobody has it
// is dropped and the delivery still happens.
func TestDeliveryNotice(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	bob := e.resolve(t, "bob@example.org")
	msg := []byte("Subject: hi\r\n\r\nx\r\n")
	res, err := e.svc.Deliver(ctx, &Delivery{From: "zoe@remote.test", Recipients: []Recipient{bob}, Data: msg,
		Notice: &Notice{To: "zoe@remote.test", Data: []byte("Subject: delivered\r\n\r\nok\r\n"), RequireTLS: true}})
	if err != nil || res.NoticeQueued == 0 {
		t.Fatalf("deliver: %+v, %v", res, err)
	}
	it, err := e.svc.db.QueueItem(ctx, res.NoticeQueued)
	if err != nil || it.Sender != "" || it.Recipient != "zoe@remote.test" || it.Params != (QueueParams{Notify: "NEVER", RequireTLS: true}) {
		t.Errorf("notice item %+v, %v", it, err)
	}

	res, err = e.svc.Deliver(ctx, &Delivery{From: "alice@example.org", Recipients: []Recipient{bob}, Data: msg,
		Notice: &Notice{To: "alice@example.org", Data: []byte("Subject: delivered\r\n\r\nok\r\n")}})
	if err != nil || res.NoticeQueued != 0 {
		t.Fatalf("deliver: %+v, %v", res, err)
	}
	if n := e.inboxCount(t, "alice@example.org"); n != 1 {
		t.Errorf("alice has %d messages, want the notice", n)
	}

	res, err = e.svc.Deliver(ctx, &Delivery{From: "nobody@example.org", Recipients: []Recipient{bob}, Data: msg,
		Notice: &Notice{To: "nobody@example.org", Data: []byte("Subject: delivered\r\n\r\nok\r\n")}})
	if err != nil || res.NoticeQueued != 0 {
		t.Fatalf("deliver: %+v, %v", res, err)
	}
	if n := e.inboxCount(t, "bob@example.org"); n != 3 {
		t.Errorf("bob has %d messages, want 3", n)
	}
}
