package main

import (
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// TestMetricsEndToEnd scrapes the built server's /metrics before and
// after one message delivered to a local user and one RCPT refused for
// an unknown one, and checks what changed; /healthz says the store
// writes, and the admin listener serves nothing else.
func TestMetricsEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) { c.Admin.Listen = "127.0.0.1:0" })
	mustCLI(t, "pw-alice1\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)
	admin, smtpAddr := srv.addrs["admin"], srv.addrs["smtp"]
	if admin == "" || smtpAddr == "" {
		t.Fatalf("no admin or smtp address in the log:\n%s", srv.log())
	}
	base := "http://" + admin

	if code, body := get(t, "GET", base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz: %d %q, want 200 ok", code, body)
	}
	before := scrape(t, base+"/metrics")

	c, err := gosmtp.Dial(smtpAddr)
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
	if err := c.Rcpt("alice@example.test", nil); err != nil {
		t.Fatal(err)
	}
	var se *gosmtp.SMTPError
	if err := c.Rcpt("nobody@example.test", nil); !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("RCPT for an unknown user: %v, want 550", err)
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wc.Write([]byte("From: sender@example.net\r\nTo: alice@example.test\r\nSubject: counted\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	after := scrape(t, base+"/metrics")
	delta := func(name string) float64 { return after[name] - before[name] }
	for name, want := range map[string]float64{
		`pillarbox_messages_received_total{listener="smtp"}`:                     1,
		`pillarbox_messages_delivered_local_total`:                               1,
		`pillarbox_smtp_rejections_total{listener="smtp",reason="rcpt_unknown"}`: 1,
		`pillarbox_smtp_rejections_total{listener="smtp",reason="relay_denied"}`: 0,
		`pillarbox_relay_attempts_total{result="delivered"}`:                     0,
	} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s not served", name)
		}
		if d := delta(name); d != want {
			t.Errorf("%s went from %v to %v, want +%v", name, before[name], after[name], want)
		}
	}
	for _, name := range []string{`pillarbox_connections_accepted_total{listener="smtp"}`, "pillarbox_store_commit_batch_requests_count"} {
		if delta(name) < 1 {
			t.Errorf("%s went from %v to %v, want an increase", name, before[name], after[name])
		}
	}
	// The scrapes themselves came over one kept-alive connection.
	if n := after[`pillarbox_connections_accepted_total{listener="admin"}`]; n < 1 {
		t.Errorf("admin connections accepted: %v", n)
	}
	if q := after[`pillarbox_queue_items{state="queued"}`]; q != 0 {
		t.Errorf("queue gauge %v for an empty queue", q)
	}
	if code, _ := get(t, "GET", base+"/admin"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", code)
	}
	srv.stop(t)
}
