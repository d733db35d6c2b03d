package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"
)

// quotaMessage is a message of about 1 KiB numbered n.
func quotaMessage(n int) string {
	return fmt.Sprintf("From: Sender <sender@example.net>\r\nTo: alice@example.test\r\nSubject: fill %d\r\n"+
		"Message-ID: <fill-%d@example.net>\r\n\r\n%s\r\n", n, n, strings.Repeat("q", 900))
}

// smtpTry sends one message through the MX with go-smtp's client and
// returns the first refusal, at RCPT or after DATA.
func smtpTry(t *testing.T, addr, to, msg string) error {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@example.net", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	return w.Close()
}

var quotaLineRE = regexp.MustCompile(`^alice@example\.test: (\d+) bytes used \([^)]*\) of (\d+) `)

// TestQuotaEndToEnd makes an account with [limits] default_quota, sets
// a smaller quota with `pillarbox user quota`,
// delivers through the MX until the mailbox is full (452 4.2.2), sees
// APPEND refused with NO [OVERQUOTA], raises the quota from the CLI
// while the server runs, and sees both work again.
func TestQuotaEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) {
		c.IMAP.Listen = "127.0.0.1:0"
		c.Limits.DefaultQuota = "8K"
	})
	const user, pass = "alice@example.test", "pw-alice-123"
	mustCLI(t, pass+"\n", "user", "add", user, "--password-stdin", "--config", cfg)
	if out := mustCLI(t, "", "user", "quota", user, "--config", cfg); !strings.Contains(out, "of 8192 (8.0 KiB)") {
		t.Fatalf("a new account has not [limits] default_quota:\n%s", out)
	}
	if out := mustCLI(t, "", "user", "quota", user, "4K", "--config", cfg); !strings.Contains(out, "of 4096 (4.0 KiB)") {
		t.Fatalf("user quota %s 4K:\n%s", user, out)
	}
	if _, errOut, code := cli(t, "", "user", "quota", user, "lots", "--config", cfg); code == 0 || !strings.Contains(errOut, "invalid size") {
		t.Fatalf("a bad size was taken: exit %d, %q", code, errOut)
	}
	if _, errOut, code := cli(t, "", "user", "quota", "nobody@example.test", "1M", "--config", cfg); code == 0 || !strings.Contains(errOut, "no such user") {
		t.Fatalf("quota for an unknown user: exit %d, %q", code, errOut)
	}

	srv := startServer(t, cfg, dir)
	smtpAddr, imapAddr := srv.addrs["smtp"], srv.addrs["imap"]

	delivered := 0
	var refusal error
	for n := 0; n < 10 && refusal == nil; n++ {
		if refusal = smtpTry(t, smtpAddr, user, quotaMessage(n)); refusal == nil {
			delivered++
		}
	}
	var se *gosmtp.SMTPError
	if !errors.As(refusal, &se) || se.Code != 452 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 2, 2}) {
		t.Fatalf("after %d messages: %v, want 452 4.2.2", delivered, refusal)
	}
	// Each message admitted at RCPT is stored, the last by grace over
	// the quota; the next RCPT finds the mailbox full.
	if delivered < 3 || delivered > 5 {
		t.Fatalf("%d messages of about 1 KiB went into 4 KiB", delivered)
	}
	m := quotaLineRE.FindStringSubmatch(mustCLI(t, "", "user", "quota", user, "--config", cfg))
	if m == nil {
		t.Fatal("user quota prints no usage")
	}
	used, _ := strconv.ParseInt(m[1], 10, 64)
	if limit, _ := strconv.ParseInt(m[2], 10, 64); used <= limit || used > limit+2048 || limit != 4096 {
		t.Fatalf("usage %d of %d: want over the quota by one message's grace", used, limit)
	}

	c, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	appendOne := func(msg string) error {
		cmd := c.Append("INBOX", int64(len(msg)), nil)
		if _, err := cmd.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := cmd.Wait()
		return err
	}
	var ie *imap.Error
	if err := appendOne(quotaMessage(100)); !errors.As(err, &ie) || ie.Code != imap.ResponseCodeOverQuota {
		t.Fatalf("APPEND to a full mailbox: %v, want NO [OVERQUOTA]", err)
	}

	mustCLI(t, "", "user", "quota", user, "1M", "--config", cfg)
	if err := smtpTry(t, smtpAddr, user, quotaMessage(200)); err != nil {
		t.Fatalf("delivery after the quota was raised: %v", err)
	}
	if err := appendOne(quotaMessage(201)); err != nil {
		t.Fatalf("APPEND after the quota was raised: %v", err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || st.NumMessages == nil || int(*st.NumMessages) != delivered+2 {
		t.Fatalf("INBOX %+v, %v; want %d messages", st, err, delivered+2)
	}
	if out := mustCLI(t, "", "user", "quota", user, "none", "--config", cfg); !strings.Contains(out, "no quota") {
		t.Fatalf("user quota none:\n%s", out)
	}
}
