package imap

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// appendMsg APPENDs msg to mailbox through imapclient and returns the
// tagged result.
func appendMsg(t *testing.T, c *imapclient.Client, mbox, msg string) error {
	t.Helper()
	cmd := c.Append(mbox, int64(len(msg)), nil)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := cmd.Wait()
	return err
}

func wantOverQuota(t *testing.T, what string, err error) {
	t.Helper()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeOverQuota {
		t.Fatalf("%s: %v, want NO [OVERQUOTA]", what, err)
	}
}

// APPEND and COPY into an account without room get NO [OVERQUOTA] (RFC
// 9208 4.3); MOVE within the account is allowed; after the quota is
// raised, APPEND works again.
func TestAppendCopyOverQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	msg := testMessage(1)
	if err := e.svc.SetQuota(ctx, "alice@example.org", int64(2*len(msg))); err != nil {
		t.Fatal(err)
	}
	c := e.client("alice")
	if err := appendMsg(t, c, "INBOX", msg); err != nil {
		t.Fatalf("APPEND within the quota: %v", err)
	}
	if err := appendMsg(t, c, "INBOX", msg); err != nil {
		t.Fatalf("APPEND up to the quota: %v", err)
	}
	wantOverQuota(t, "APPEND to a full account", appendMsg(t, c, "INBOX", msg))
	wantOverQuota(t, "APPEND larger than the quota", appendMsg(t, c, "INBOX", msg+strings.Repeat("x", 3*len(msg))+"\r\n"))

	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Copy(imap.SeqSetNum(1), "Archive").Wait()
	wantOverQuota(t, "COPY in a full account", err)
	if _, err := c.Move(imap.SeqSetNum(1), "Archive").Wait(); err != nil {
		t.Fatalf("MOVE in a full account: %v", err)
	}

	if err := e.svc.SetQuota(ctx, "alice@example.org", 0); err != nil {
		t.Fatal(err)
	}
	if err := appendMsg(t, c, "INBOX", msg); err != nil {
		t.Fatalf("APPEND after the quota was lifted: %v", err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || st.NumMessages == nil || *st.NumMessages != 2 {
		t.Fatalf("INBOX status %+v, %v; want 2 messages", st, err)
	}
}
