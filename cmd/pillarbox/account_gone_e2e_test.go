package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// TestDeletedAccountSessionsEnd replays the takeover found by hostile
// testing against the binary: dave keeps an IMAP session (SELECT INBOX)
// and a submission session (AUTH PLAIN) open, `user del dave` and `user
// add erin` run as other processes, and dave's sessions must end instead
// of reading erin's INBOX or sending as erin.
func TestDeletedAccountSessionsEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) {
		c.IMAP.Listen = "127.0.0.1:0"
		c.Submission.Listen = "127.0.0.1:0"
	})
	const dave, erin = "dave@example.test", "erin@example.test"
	mustCLI(t, "pw-dave-1\n", "user", "add", dave, "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)

	ic, err := imapclient.DialInsecure(srv.addrs["imap"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(dave, "pw-dave-1").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sc, err := gosmtp.Dial(srv.addrs["submission"])
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Auth(sasl.NewPlainClient("", dave, "pw-dave-1")); err != nil {
		t.Fatal(err)
	}

	deleted := time.Now()
	mustCLI(t, "", "user", "del", dave, "--config", cfg)
	mustCLI(t, "pw-erin-1\n", "user", "add", erin, "--password-stdin", "--config", cfg)
	smtpSend(t, srv.addrs["smtp"], erin, "for erin only")

	select {
	case <-ic.Closed():
		t.Logf("IMAP session ended %v after user del", time.Since(deleted).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("dave's IMAP session is still open after user del")
	}
	if msgs, err := ic.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect(); err == nil {
		t.Fatalf("dave's old session fetched %d messages", len(msgs))
	}
	// The server ends the account's sessions concurrently: the IMAP one
	// may close first, and the submission one a moment later.
	for end := time.Now().Add(5 * time.Second); sc.Noop() == nil; {
		if time.Now().After(end) {
			t.Fatal("dave's submission session still answers NOOP 5 s after his IMAP session ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = sc.Mail(erin, nil)
	if err == nil {
		err = sc.Rcpt("someone@remote.test", nil)
	}
	if err == nil {
		t.Fatal("dave's old submission session may send as erin")
	}
	if se, ok := err.(*gosmtp.SMTPError); ok && se.Code != 421 {
		t.Fatalf("MAIL FROM erin on dave's session: %v, want 421 or a closed connection", err)
	}
	srv.waitLog(t, "ending session", 5*time.Second)
}
