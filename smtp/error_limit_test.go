package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// TestErrorLimit: a client that keeps getting refusals without
// delivering mail (here, harvesting addresses with RCPT) gets 421 4.7.0
// once it passes maxSessionErrors and is disconnected; the refusal is
// counted like the others.
func TestErrorLimit(t *testing.T) {
	t.Parallel()
	m := &countMetrics{}
	e := startMX(t, envOptions{opts: Options{Metrics: m}})
	c := dial(t, e.addr)
	if err := c.Mail("harvester@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	var last error
	n := 0
	for i := range 300 {
		last = c.Rcpt(fmt.Sprintf("guess%d@example.org", i), nil)
		n++
		var se *gosmtp.SMTPError
		if !errors.As(last, &se) || se.Code != 550 {
			break
		}
	}
	if n != maxSessionErrors+1 {
		t.Fatalf("the refusal after %d RCPTs was %v; want 421 after %d 550s", n, last, maxSessionErrors)
	}
	wantCode(t, last, 421, gosmtp.EnhancedCode{4, 7, 0})
	if err := c.Rcpt("alice@example.org", nil); err == nil {
		t.Fatal("the session goes on after 421")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refused[RefusedTooManyErrors] != 1 || m.refused[RefusedRcptUnknown] != maxSessionErrors {
		t.Fatalf("refusals %v; want %d rcpt_unknown and 1 too_many_errors", m.refused, maxSessionErrors)
	}
}

// TestErrorLimitSparesRealSenders: a sender with many recipients, a good
// share of them unknown, delivers to the others, message after message
// on one connection.
func TestErrorLimitSparesRealSenders(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	for i := range 40 {
		if err := e.svc.AddUser(context.Background(), fmt.Sprintf("u%d@example.org", i), "pw"); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, e.addr)
	for msg := range 3 {
		if err := c.Mail("list@remote.test", nil); err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			if err := c.Rcpt(fmt.Sprintf("gone%d-%d@example.org", msg, i), nil); err == nil {
				t.Fatal("unknown recipient accepted")
			} else {
				wantCode(t, err, 550, gosmtp.EnhancedCode{5, 1, 1})
			}
			if err := c.Rcpt(fmt.Sprintf("u%d@example.org", i), nil); err != nil {
				t.Fatalf("message %d, recipient %d: %v", msg, i, err)
			}
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "Subject: list\r\n\r\nhi\r\n")
		if err := w.Close(); err != nil {
			t.Fatalf("message %d: %v", msg, err)
		}
	}
	if n := inboxCount(t, e, "u7@example.org"); n != 3 {
		t.Fatalf("u7 has %d messages, want 3", n)
	}
}
