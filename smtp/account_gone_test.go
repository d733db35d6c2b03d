package smtp

import (
	"context"
	"errors"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// TestSubmissionSessionEndsWithAccount is the takeover found by hostile
// testing: dave's submission session outlived `user del dave`, and once
// erin got dave's old account id, it could send as erin. Now the session
// is told 421 and closed, and MAIL FROM erin goes nowhere.
func TestSubmissionSessionEndsWithAccount(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 1<<20)
	ctx := context.Background()
	if err := e.svc.AddUser(ctx, "dave@example.org", "dave-pw"); err != nil {
		t.Fatal(err)
	}
	c := subLogin(t, e.addr, "dave@example.org", "dave-pw")
	defer c.Close()
	if err := e.svc.DeleteUser(ctx, "dave@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AddUser(ctx, "erin@example.org", "erin-pw"); err != nil {
		t.Fatal(err)
	}
	err := c.Mail("erin@example.org", nil)
	if err == nil {
		err = c.Rcpt("friend@remote.example", nil)
	}
	var se *gosmtp.SMTPError
	if err == nil {
		t.Fatal("dave's old session may still send as erin")
	}
	if errors.As(err, &se) && (se.Code != 421 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 7, 0})) {
		t.Fatalf("got %d %v %q, want 421 4.7.0", se.Code, se.EnhancedCode, se.Message)
	}
	if items, err := e.svc.QueueList(ctx); err != nil || len(items) != 0 {
		t.Fatalf("queue holds %d items (%v) after the refused session", len(items), err)
	}
}

// TestSubmissionPasswordChangeEndsSession: a password change ends the
// sessions logged in with the old one; the new one logs in.
func TestSubmissionPasswordChangeEndsSession(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 1<<20)
	ctx := context.Background()
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	defer c.Close()
	if err := e.svc.SetPassword(ctx, "alice@example.org", "alice-new"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.org", nil); err == nil {
		t.Fatal("the session with the old password may still send")
	}
	c2 := subLogin(t, e.addr, "alice@example.org", "alice-new")
	defer c2.Close()
	if err := c2.Mail("alice@example.org", nil); err != nil {
		t.Fatalf("MAIL after logging in with the new password: %v", err)
	}
}
