package smtp

import (
	"context"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

// quotaBody is a message of n octets or a little more.
func quotaBody(id string, n int) string {
	head := "From: zoe@example.net\r\nSubject: q\r\nMessage-ID: <" + id + ">\r\n\r\n"
	return head + strings.Repeat("x", max(n-len(head)-2, 0)) + "\r\n"
}

// sendData sends body after DATA and returns the reply to it.
func sendData(t *testing.T, c *gosmtp.Client, body string) error {
	t.Helper()
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	return w.Close()
}

func fillQuota(t *testing.T, svc *mailbox.Service, user string, limit int64, fill int) {
	t.Helper()
	ctx := context.Background()
	if err := svc.SetQuota(ctx, user, limit); err != nil {
		t.Fatal(err)
	}
	if fill == 0 {
		return
	}
	a, _ := mailbox.ParseAddress(user)
	r, err := svc.Resolve(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Deliver(ctx, &mailbox.Delivery{Recipients: []mailbox.Recipient{r}, Data: []byte(quotaBody("fill@x", fill))}); err != nil {
		t.Fatal(err)
	}
}

// A recipient whose mailbox is full gets 452 4.2.2 at RCPT; the others
// in the same transaction get the message.
func TestRcptMailboxFull(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	fillQuota(t, e.svc, "alice@example.org", 1000, 1000)
	c := dial(t, e.addr)
	if err := c.Mail("zoe@example.net", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("alice@example.org", nil), 452, gosmtp.EnhancedCode{4, 2, 2})
	if err := c.Rcpt("bob@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := sendData(t, c, quotaBody("m1@x", 300)); err != nil {
		t.Fatalf("DATA for bob: %v", err)
	}
	if inboxCount(t, e, "alice@example.org") != 1 || inboxCount(t, e, "bob@example.org") != 1 {
		t.Fatal("the message went to the wrong mailboxes")
	}
}

// The SIZE declared at MAIL is checked at RCPT: more than the room left
// is 452 4.2.2, more than the whole quota 552 5.2.2, and what fits
// passes.
func TestRcptDeclaredSizeOverQuota(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	fillQuota(t, e.svc, "alice@example.org", 1000, 600)
	used, err := e.svc.UserQuota(context.Background(), "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	room := used.Limit - used.Usage
	c := dial(t, e.addr)
	for _, tc := range []struct {
		size int64
		code int
		enh  gosmtp.EnhancedCode
	}{
		{room + 1, 452, gosmtp.EnhancedCode{4, 2, 2}},
		{used.Limit + 1, 552, gosmtp.EnhancedCode{5, 2, 2}},
		{room, 250, gosmtp.EnhancedCode{}},
	} {
		if err := c.Mail("zoe@example.net", &gosmtp.MailOptions{Size: tc.size}); err != nil {
			t.Fatal(err)
		}
		err := c.Rcpt("alice@example.org", nil)
		if tc.code == 250 {
			if err != nil {
				t.Errorf("SIZE=%d with %d octets of room: %v", tc.size, room, err)
			}
		} else {
			wantCode(t, err, tc.code, tc.enh)
		}
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDataGrace: after DATA there is one reply for every recipient, so
// a message admitted at RCPT is stored for each, also one that it takes
// over its quota (mailbox.Delivery.Grace): alice's nearly full mailbox
// must not defer or bounce bob's copy. The next RCPT to alice, now full,
// gets 452 4.2.2, and an alias with a member that has room is not
// refused for alice.
func TestDataGrace(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	fillQuota(t, e.svc, "alice@example.org", 2000, 1200)
	c := dial(t, e.addr)
	if err := c.Mail("zoe@example.net", nil); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"alice@example.org", "bob@example.org"} {
		if err := c.Rcpt(to, nil); err != nil {
			t.Fatalf("RCPT %s: %v", to, err)
		}
	}
	if err := sendData(t, c, quotaBody("d@x", 1000)); err != nil {
		t.Fatalf("DATA admitted at RCPT: %v", err)
	}
	if inboxCount(t, e, "alice@example.org") != 2 || inboxCount(t, e, "bob@example.org") != 1 {
		t.Fatal("the admitted message was not stored for both")
	}
	if err := c.Mail("zoe@example.net", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("alice@example.org", nil), 452, gosmtp.EnhancedCode{4, 2, 2})
	if err := c.Rcpt("team@example.org", nil); err != nil {
		t.Fatalf("RCPT to an alias of full alice and bob: %v", err)
	}
	if err := sendData(t, c, quotaBody("team@x", 100)); err != nil {
		t.Fatalf("DATA to the alias: %v", err)
	}
	if inboxCount(t, e, "bob@example.org") != 2 {
		t.Fatal("bob did not get the alias's message")
	}
}

// Submission: a full local recipient gets 452 4.2.2 at RCPT, a message
// that does not fit 452 4.2.2 after DATA; the sender's own quota does not
// stop the message, only its Sent copy.
func TestSubmissionOverQuota(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 1<<20)
	ctx := context.Background()
	if err := e.svc.SetQuota(ctx, "bob@example.org", 2500); err != nil {
		t.Fatal(err)
	}
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	msg := "From: alice@example.org\r\nSubject: big\r\n\r\n" + strings.Repeat("y", 1200) + "\r\n"
	// The second message is admitted at RCPT (bob is not full yet) and
	// stored by grace, over the quota; then bob is full.
	for i, want := range []int{250, 250} {
		if err := c.Mail("alice@example.org", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("bob@example.org", nil); err != nil {
			t.Fatal(err)
		}
		err := sendData(t, c, msg)
		if want == 250 && err != nil {
			t.Fatalf("message %d: %v", i, err)
		} else if want != 250 {
			wantCode(t, err, 452, gosmtp.EnhancedCode{4, 2, 2})
		}
	}

	if err := e.svc.SetQuota(ctx, "bob@example.org", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("bob@example.org", nil), 452, gosmtp.EnhancedCode{4, 2, 2})

	before, err := e.svc.UserQuota(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetQuota(ctx, "alice@example.org", before.Usage+1); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("friend@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := sendData(t, c, "From: alice@example.org\r\nSubject: out\r\n\r\nhello\r\n"); err != nil {
		t.Fatalf("a full sender may not send: %v", err)
	}
	if items, err := e.svc.QueueList(ctx); err != nil || len(items) != 1 {
		t.Fatalf("queue %v, %v", items, err)
	}
	if q, _ := e.svc.UserQuota(ctx, "alice@example.org"); q.Usage != before.Usage {
		t.Fatalf("the Sent copy was filed over the quota: usage %d", q.Usage)
	}
}
