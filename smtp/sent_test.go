package smtp

import (
	"context"
	"strings"
	"testing"

	"pillarbox/store"
)

// folder returns the messages of a user's folder, in UID order.
func (e *subEnv) folder(t *testing.T, user, name string) ([]store.Message, []string) {
	t.Helper()
	ctx := context.Background()
	acct, err := e.db.AccountByAddress(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := e.db.MailboxByName(ctx, acct.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.db.Messages(ctx, mb.ID, 1, ^uint32(0), 0)
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	for _, m := range msgs {
		b, err := e.db.BlobData(ctx, m.BlobID)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, string(b))
	}
	return msgs, data
}

// The sender's Sent copy is the message as relayed, with the same trace
// fields, Message-ID and Date, but with its Bcc fields, which the
// recipients' copies lose.
func TestSubmissionSentCopyKeepsBcc(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	msg := "Bcc: first@remote.test\r\n" +
		"From: Alice <alice@example.org>\r\n" +
		"To: bob@example.org\r\n" +
		"bcc: hidden@remote.test,\r\n\tsecret@remote.test\r\n" +
		"Subject: s\r\n" +
		"\r\n" +
		"Bcc: part of the body\r\n"
	without := "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nBcc: part of the body\r\n"
	if err := send(c, "alice@example.org", []string{"bob@example.org", "hidden@remote.test"}, msg); err != nil {
		t.Fatal(err)
	}
	q := e.queue(t)
	if len(q) != 1 {
		t.Fatalf("queue %+v", q)
	}
	queued, err := e.db.BlobData(context.Background(), q[0].BlobID)
	if err != nil {
		t.Fatal(err)
	}
	prefix, ok := strings.CutSuffix(string(queued), without)
	if !ok || !strings.Contains(prefix, "Message-ID: <") || !strings.Contains(prefix, "Received: ") {
		t.Fatalf("queued message:\n%s", queued)
	}
	msgs, data := e.folder(t, "alice@example.org", "Sent")
	if len(msgs) != 1 {
		t.Fatalf("alice's Sent holds %d messages, want 1", len(msgs))
	}
	if data[0] != prefix+msg {
		t.Errorf("Sent copy:\n%s\nwant:\n%s", data[0], prefix+msg)
	}
	if msgs[0].Flags != store.FlagSeen || msgs[0].Size != int64(len(prefix+msg)) {
		t.Errorf("Sent copy %+v, want \\Seen and size %d", msgs[0], len(prefix+msg))
	}
	if bob := e.inbox(t, "bob@example.org"); len(bob) != 1 || bob[0] != string(queued) {
		t.Errorf("bob's copy differs from the relayed one:\n%v", bob)
	}
	wantSub(t, "log", e.log.String(), "sent_folder=Sent sent_uid=1")
}

// Without Bcc, the Sent copy shares the stored message with the queue.
func TestSubmissionSentCopyShared(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	if err := send(c, "alice@example.org", []string{"x@remote.test"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	q := e.queue(t)
	msgs, _ := e.folder(t, "alice@example.org", "Sent")
	if len(q) != 1 || len(msgs) != 1 || msgs[0].BlobID != q[0].BlobID {
		t.Errorf("queue %+v, Sent %+v: want one shared stored message", q, msgs)
	}
}

func TestSentCopyWithoutBccIsNil(t *testing.T) {
	t.Parallel()
	msg := []byte("To: a@b.c\r\nSubject: s\r\n\r\nBcc: body\r\n")
	h, err := readSubmitHeader(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got := sentCopy([]byte("Received: x\r\n"), msg, h); got != nil {
		t.Errorf("sentCopy without Bcc = %q, want nil", got)
	}
}

// A message at the size limit is filed whole in Sent, Bcc and trace
// fields included, though the copy is then a little larger than the
// limit (as the relayed message is): the limit bounds what a client
// sends, not what the server adds. One octet more is refused before
// anything is stored.
func TestSubmissionSentCopyAtSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 4096
	e := startSubmission(t, limit)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	head := "From: alice@example.org\r\nTo: x@remote.test\r\nBcc: y@remote.test\r\nSubject: big\r\n\r\n"
	body := strings.Repeat("x", limit-len(head)-2) + "\r\n"
	if err := send(c, "alice@example.org", []string{"x@remote.test", "y@remote.test"}, head+body); err != nil {
		t.Fatal(err)
	}
	msgs, data := e.folder(t, "alice@example.org", "Sent")
	if len(msgs) != 1 || !strings.HasSuffix(data[0], head+body) || msgs[0].Size <= limit {
		t.Fatalf("Sent: %d messages, size %v", len(msgs), msgs)
	}
	err := send(c, "alice@example.org", []string{"x@remote.test"}, head+"x"+body)
	subWantCode(t, "one octet over", err, 552, [3]int{5, 3, 4})
	if msgs, _ := e.folder(t, "alice@example.org", "Sent"); len(msgs) != 1 {
		t.Errorf("Sent holds %d messages after a refused one", len(msgs))
	}
}
