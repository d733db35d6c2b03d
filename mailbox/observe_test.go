package mailbox

import (
	"context"
	"sync/atomic"
	"testing"
)

// TestOnDelivered: the hook counts each account that received a
// message, once committed; a failed delivery and the Sent copy count
// nothing.
func TestOnDelivered(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	e := newQueueEnvWith(t, Options{OnDelivered: func(accounts int) { n.Add(int64(accounts)) }})
	ctx := context.Background()
	if _, err := e.svc.Deliver(ctx, &Delivery{From: "x@remote.test", Recipients: []Recipient{e.resolve(t, "team@example.org")},
		Data: []byte(submitMsg)}); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("after a delivery to an alias of two accounts: %d, want 2", got)
	}
	if _, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr,
		Local: []Recipient{e.resolve(t, "bob@example.org")}, Remote: []Address{e.x}, Data: []byte(submitMsg)}); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("after a submission to one local and one remote recipient: %d, want 3", got)
	}
	if _, err := e.svc.Submit(ctx, &Submission{Account: e.alice, From: e.aliceAddr,
		Local: []Recipient{e.resolve(t, "bob@example.org"), {Accounts: []int64{9999}}}, Data: []byte(submitMsg)}); err == nil {
		t.Fatal("submit to a missing account succeeded")
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("after a failed submission: %d, want 3", got)
	}
}
