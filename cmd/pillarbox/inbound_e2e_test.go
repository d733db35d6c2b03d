package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/smtp/msgauth/dnstest"
)

// TestInboundChecksEndToEnd runs the binary with its sender checks on and
// every lookup going to a DNS server of the test's own ([dns] resolver):
// a message whose SPF passes is stored with one Authentication-Results
// header, and one that claims the local domain from outside is refused.
func TestInboundChecksEndToEnd(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t)
	dns.SetTXT("partner.test", "v=spf1 ip4:127.0.0.1 -all")
	dns.SetTXT("_dmarc.partner.test", "v=DMARC1; p=reject")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, data, func(c *Config) {
		c.Inbound.Verify = true
		c.DNS.Resolver = dns.Addr()
	})
	mustCLI(t, "password\n", "user", "add", "bob@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)

	send := func(from string) error {
		c, err := gosmtp.Dial(srv.addrs["smtp"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.SendMail(from, []string{"bob@example.test"},
			strings.NewReader("From: <"+from+">\r\nSubject: from "+from+"\r\n\r\nhello\r\n"))
	}
	if err := send("alice@partner.test"); err != nil {
		t.Fatalf("SPF-passing sender refused: %v", err)
	}
	err := send("ceo@example.test")
	if se, ok := err.(*gosmtp.SMTPError); !ok || se.Code != 550 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 1}) {
		t.Fatalf("unauthenticated mail claiming the local domain: %v, want 550 5.7.1", err)
	}
	srv.waitLog(t, "smtp: refused", 5*time.Second)
	srv.stop(t)
	db, _ := openDataDir(t, data)
	ctx := t.Context()
	acct, err := db.AccountByAddress(ctx, "bob@example.test")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := db.MailboxByName(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := db.Messages(ctx, mb.ID, 1, ^uint32(0), 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("bob's INBOX holds %d messages (%v), want the one from partner.test", len(msgs), err)
	}
	raw, err := db.BlobData(ctx, msgs[0].BlobID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "Authentication-Results: mx.example.test;\r\n\tspf=pass") {
		t.Fatalf("stored message lacks our Authentication-Results:\n%s", raw)
	}
}
