package smtp

import (
	"io"
	"strings"
	"testing"
)

// A MAIL inside a transaction with recipients is refused with 503 and leaves the
// transaction as it was (RFC 5321 4.1.4), as Postfix, Sendmail and Exim
// do. go-smtp keeps its own list of the transaction's recipients, which
// only RSET, EHLO and the end of DATA clear: a session that started over
// at a nested MAIL disagreed with it, counting the old recipients against
// the new transaction's limit and answering 354 to a DATA with no valid
// recipient, then leaving the message to go-smtp's own reader.
func TestNestedMailRefused(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{opts: Options{MaxRecipients: 2}})
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<alice@example.org>", 250)
	cmd(t, tc, "RCPT TO:<bob@example.org>", 250)
	if msg := cmd(t, tc, "MAIL FROM:<yves@example.net>", 503); msg[:5] != "5.5.1" {
		t.Errorf("nested MAIL: 503 %s, want 5.5.1", msg)
	}
	// The transaction is the first one, whole.
	cmd(t, tc, "DATA", 354)
	io.WriteString(nc, "Subject: kept\r\n\r\nx\r\n.\r\n")
	if code, msg, err := tc.ReadResponse(250); err != nil {
		t.Fatalf("DATA after a nested MAIL: %d %s", code, msg)
	}
	if a, b := inboxCount(t, e, "alice@example.org"), inboxCount(t, e, "bob@example.org"); a != 1 || b != 1 {
		t.Fatalf("alice has %d, bob %d messages, want 1 each", a, b)
	}
	if got := lastMessage(t, e, "alice@example.org"); !strings.Contains(got, "Return-Path: <zoe@example.net>") {
		t.Errorf("stored with the nested MAIL's sender:\n%s", got)
	}
	// After RSET the next transaction starts with no recipient counted.
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<carol@example.org>", 250)
	cmd(t, tc, "RSET", 250)
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<alice@example.org>", 250)
	cmd(t, tc, "RCPT TO:<carol@example.org>", 250)
}

func TestSubmissionNestedMailRefused(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 1<<20)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	if err := c.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"bob@example.org", "zoe@example.net"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Mail("alice@example.org", nil)
	subWantCode(t, "nested MAIL", err, 503, [3]int{5, 5, 1})
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: alice@example.org\r\nSubject: kept\r\n\r\nx\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("DATA after a nested MAIL: %v", err)
	}
	if n := len(e.inbox(t, "bob@example.org")); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
	if n := len(e.queue(t)); n != 1 {
		t.Errorf("%d queue items, want 1 for zoe@example.net", n)
	}
}
