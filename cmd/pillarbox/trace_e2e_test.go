package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// traceLine finds the line of a trace output for an event and address.
func traceLine(out, event, address string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && f[1] == event && f[5] == address {
			return l
		}
	}
	return ""
}

// TestTraceEndToEnd runs the binary: a message received by the MX, and
// one submitted for three remote recipients that the smarthost accepts
// at once (bob), defers once and then accepts (dave), and refuses
// (carol). `pillarbox trace` tells each story, by Message-ID, address,
// queue id and stored id, while serve runs and after it stopped.
func TestTraceEndToEnd(t *testing.T) {
	t.Parallel()
	sink := startRelaySink(t)
	sink.script("dave@remote.test", 451, 250)
	sink.script("carol@remote.test", 550)
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) {
		c.Submission.Listen = "127.0.0.1:0"
		c.Relay.Smarthost = sink.addr
		c.Relay.SmarthostTLS = "none"
		c.Relay.Retry = []Duration{{time.Second}, {time.Hour}}
		c.Relay.DelayWarning = Duration{0}
	})
	mustCLI(t, "secret-pw\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)

	smtpSend(t, srv.addrs["smtp"], "alice@example.test", "inbound trace")

	c := submissionLogin(t, srv.addrs["submission"], "laptop.example", "alice@example.test", "secret-pw", true)
	msg := "From: alice@example.test\r\nTo: bob@remote.test\r\nSubject: traced\r\nMessage-ID: <out1@example.test>\r\n\r\nhi\r\n"
	if err := c.SendMail("alice@example.test", []string{"bob@remote.test", "dave@remote.test", "carol@remote.test"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.waitLog(t, `msg="relay: delivered".*rcpt=bob@remote.test`, 15*time.Second)
	srv.waitLog(t, `msg="relay: notice delivered" kind=bounce to=alice@example.test`, 15*time.Second)
	srv.waitLog(t, `msg="relay: delivered".*rcpt=dave@remote.test`, 15*time.Second)

	// The inbound message, by Message-ID, while serve runs.
	in := mustCLI(t, "", "trace", "<inbound-trace@example.net>", "--config", cfg)
	logID := regexp.MustCompile(`msg="smtp: received" id=(\S+) `).FindStringSubmatch(srv.log())
	if logID == nil {
		t.Fatalf("no received line in the log:\n%s", srv.log())
	}
	if l := traceLine(in, "received", "sender@example.net"); !strings.Contains(l, "id "+logID[1]+"; client [127.0.0.1] helo client.example.net; TLS none") ||
		!strings.Contains(l, "to alice@example.test") {
		t.Errorf("received line %q in:\n%s", l, in)
	}
	if l := traceLine(in, "delivered", "alice@example.test"); !strings.Contains(l, "locally to alice@example.test") {
		t.Errorf("delivered line %q in:\n%s", l, in)
	}

	out := mustCLI(t, "", "trace", "dave@remote.test", "--config", cfg)
	checks := []struct{ event, address, want string }{
		{"received", "alice@example.test", "helo laptop.example; TLS TLS 1."},
		{"received", "alice@example.test", "user alice@example.test; to bob@remote.test,dave@remote.test,carol@remote.test"},
		{"queued", "carol@remote.test", "for relay"},
		{"relayed", "bob@remote.test", "reply 250"},
		{"deferred", "dave@remote.test", "reply 451"},
		{"relayed", "dave@remote.test", "reply 250"},
		{"bounced", "carol@remote.test", "reply 550"},
	}
	for _, c := range checks {
		if l := traceLine(out, c.event, c.address); !strings.Contains(l, c.want) || !strings.Contains(l, "<out1@example.test>") {
			t.Errorf("%s %s: line %q, want %q, in:\n%s", c.event, c.address, l, c.want, out)
		}
	}
	// Latest first: dave's delivery above his deferral above the receipt.
	iRelayed := strings.Index(out, traceLine(out, "relayed", "dave@remote.test"))
	iDeferred := strings.Index(out, traceLine(out, "deferred", "dave@remote.test"))
	iReceived := strings.Index(out, traceLine(out, "received", "alice@example.test"))
	if !(iRelayed < iDeferred && iDeferred < iReceived) {
		t.Errorf("not latest first:\n%s", out)
	}
	if !strings.HasPrefix(out, "# address dave@remote.test: 8 event(s), latest first\n") {
		t.Errorf("heading of:\n%s", out)
	}

	// dave's queue id and the stored id, as trace shows them, name the
	// same story; so does the bare number of the queue id.
	f := strings.Fields(traceLine(out, "deferred", "dave@remote.test"))
	stored, queue := f[2], f[3]
	if !regexp.MustCompile(`^m\d+$`).MatchString(stored) || !regexp.MustCompile(`^q\d+$`).MatchString(queue) {
		t.Fatalf("ids %q %q", stored, queue)
	}
	srv.stop(t)
	body := func(s string) string { return s[strings.Index(s, "\n"):] }
	for _, arg := range []string{queue, stored, "<out1@example.test>"} {
		got := mustCLI(t, "", "trace", arg, "--config", cfg)
		if body(got) != body(out) {
			t.Errorf("trace %s (serve stopped):\n%s\nwant the events of:\n%s", arg, got, out)
		}
	}
	bare := mustCLI(t, "", "trace", queue[1:], "--config", cfg)
	if !strings.Contains(bare, "# queue item "+queue+": 8 event(s)") {
		t.Errorf("trace %s:\n%s", queue[1:], bare)
	}

	for _, arg := range []string{"q999999", "nobody@nowhere.test", "not an id"} {
		if _, stderr, code := cli(t, "", "trace", arg, "--config", cfg); code == 0 || !strings.Contains(stderr, "trace: ") {
			t.Errorf("trace %q: exit %d, stderr %q", arg, code, stderr)
		}
	}
}
