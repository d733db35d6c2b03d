package main

import (
	"context"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"pillarbox/store"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// The whole way out through the built binary: a user submits with
// Python's smtplib (and swaks when installed), the relay hands the mail
// to a smarthost on loopback that defers twice and then accepts, a
// refused recipient bounces into the sender's INBOX, `queue retry`
// takes effect in the running server, and an attempt cut off by kill -9
// is made again after a restart.
func TestRelayEndToEnd(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	swaks, _ := exec.LookPath("swaks")

	sink := startRelaySink(t)
	sink.script("bob@remote.test", 451, 451, 250)
	sink.script("carol@remote.test", 550)
	sink.script("dave@remote.test", 451, 451, 451, 250)
	sink.hangOnce("erin@remote.test")

	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, dataDir, func(c *Config) {
		c.Submission.Listen = "127.0.0.1:0"
		c.Submission.ListenTLS = "127.0.0.1:0"
		c.Relay.Smarthost = sink.addr
		c.Relay.Retry = []Duration{{time.Second}, {time.Second}, {time.Hour}}
		c.Relay.MaxAge = Duration{2 * time.Hour}
		c.Relay.DelayWarning = Duration{0}
	})
	mustCLI(t, "secret-pw\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)

	srv := startServer(t, cfg, dir)
	msg := "From: Alice <alice@example.test>\r\nTo: bob@remote.test, carol@remote.test, dave@remote.test\r\n" +
		"Subject: e2e relay\r\n\r\nHello from smtplib.\r\n"
	submitPython(t, python, srv.addrs["submission"], "bob@remote.test,carol@remote.test,dave@remote.test", msg)

	// bob: deferred twice, one second apart, then accepted.
	got := sink.wait(t, "bob@remote.test", 15*time.Second)
	if got.from != "alice@example.test" || !strings.Contains(got.data, "Subject: e2e relay") ||
		!strings.Contains(got.data, "with ESMTPSA id") || strings.HasPrefix(got.data, "Return-Path") {
		t.Errorf("bob's copy from <%s>:\n%s", got.from, got.data)
	}
	if n := sink.rcptCount("bob@remote.test"); n != 3 {
		t.Errorf("bob tried %d times, want 3", n)
	}
	// carol: refused, so alice gets a bounce.
	srv.waitLog(t, `msg="relay: notice delivered" kind=bounce to=alice@example.test`, 15*time.Second)
	// dave: deferred three times; the next try is an hour away.
	srv.waitLog(t, `msg="relay: deferred".*rcpt=dave@remote.test.*attempt=3`, 15*time.Second)

	list := mustCLI(t, "", "queue", "list", "--config", cfg)
	if !regexp.MustCompile(`(?m)^\d+\s+<alice@example.test>\s+dave@remote.test\s+queued\s+3\s+`).MatchString(list) ||
		strings.Count(list, "\n") != 2 {
		t.Fatalf("queue list:\n%s", list)
	}
	id := strings.Fields(strings.Split(list, "\n")[1])[0]
	show := mustCLI(t, "", "queue", "show", id, "--config", cfg)
	if strings.Count(show, "451 4.2.0 Mailbox busy") != 4 || !strings.Contains(show, "Subject: e2e relay") {
		t.Errorf("queue show:\n%s", show)
	}
	// dave's item is queued, not held: releasing it is an error (the old
	// code made it due at once, as retry does).
	if _, errOut, code := cli(t, "", "queue", "release", id, "--config", cfg); code == 0 || !strings.Contains(errOut, "is not held") {
		t.Errorf("queue release of a queued item: exit %d, %q", code, errOut)
	}
	// The CLI runs in another process: the server notices within a
	// second.
	start := time.Now()
	if out := mustCLI(t, "", "queue", "retry", "--all", "--config", cfg); !strings.HasPrefix(out, "1 item(s)") {
		t.Errorf("retry: %s", out)
	}
	sink.wait(t, "dave@remote.test", 10*time.Second)
	t.Logf("retry took effect after %v", time.Since(start).Round(time.Millisecond))

	// erin: submitted with swaks over implicit TLS and AUTH LOGIN; the
	// first attempt hangs after DATA and the server is killed.
	erinMsg := "From: alice@example.test\r\nTo: erin@remote.test\r\nSubject: crash\r\n\r\nx\r\n"
	if swaks != "" {
		out, err := exec.Command(swaks, "--server", srv.addrs["submissions"], "--tls-on-connect", "--helo", "client.example",
			"--auth", "LOGIN", "--auth-user", "alice@example.test", "--auth-password", "secret-pw",
			"--from", "alice@example.test", "--to", "erin@remote.test", "--header", "Subject: crash", "--body", "x",
			"--timeout", "30").CombinedOutput()
		if err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
	} else {
		submitPython(t, python, srv.addrs["submission"], "erin@remote.test", erinMsg)
	}
	sink.waitHang(t, "erin@remote.test", 15*time.Second)
	srv.kill()

	srv = startServer(t, cfg, dir)
	got = sink.wait(t, "erin@remote.test", 15*time.Second)
	if !strings.Contains(got.data, "Subject: crash") {
		t.Errorf("erin's copy:\n%s", got.data)
	}
	srv.waitLog(t, `msg="relay: delivered".*rcpt=erin@remote.test`, 10*time.Second)
	srv.stop(t)

	if list := mustCLI(t, "", "queue", "list", "--config", cfg); list != "the queue is empty\n" {
		t.Errorf("queue after delivery:\n%s", list)
	}
	db := openDataStore(t, dataDir)
	defer db.Close()
	inbox := inboxData(t, db, "alice@example.test")
	if len(inbox) != 1 {
		t.Fatalf("alice has %d messages, want the bounce for carol", len(inbox))
	}
	for _, want := range []string{
		"Return-Path: <>", "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>",
		"Content-Type: multipart/report; report-type=delivery-status",
		"Content-Type: message/delivery-status", "Reporting-MTA: dns; mx.example.test",
		"Final-Recipient: rfc822; carol@remote.test", "Action: failed", "Status: 5.1.1",
		"Diagnostic-Code: smtp; 550 5.1.1 No such user here", "Content-Type: text/rfc822-headers", "Subject: e2e relay",
	} {
		if !strings.Contains(inbox[0], want) {
			t.Errorf("bounce lacks %q:\n%s", want, inbox[0])
		}
	}
}

// submitPython sends msg from alice with smtplib over STARTTLS and AUTH.
func submitPython(t *testing.T, python, addr, rcpts, msg string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	const script = `
import smtplib, ssl, sys
host, port, rcpts = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP(host, port, local_hostname="client.example", timeout=30)
s.starttls(context=ctx)
s.login("alice@example.test", "secret-pw")
refused = s.sendmail("alice@example.test", rcpts, sys.stdin.read())
s.quit()
sys.exit(1 if refused else 0)
`
	cmd := exec.Command(python, "-c", script, host, port, rcpts)
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
}

func inboxData(t *testing.T, db store.Store, user string) []string {
	t.Helper()
	ctx := context.Background()
	acct, err := db.AccountByAddress(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := db.MailboxByName(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := db.Messages(ctx, mb.ID, 1, ^uint32(0), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		b, err := db.BlobData(ctx, m.BlobID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// relaySink is the smarthost: a go-smtp server on loopback that answers
// RCPT per recipient as scripted and can hang once after a DATA.
type relaySink struct {
	addr string

	mu      sync.Mutex
	codes   map[string][]int
	count   map[string]int
	hang    map[string]bool
	msgs    map[string]chan relaySinkMsg
	hanging map[string]chan struct{}
	release chan struct{}
}

type relaySinkMsg struct {
	from, data string
}

func startRelaySink(t *testing.T) *relaySink {
	t.Helper()
	s := &relaySink{codes: map[string][]int{}, count: map[string]int{}, hang: map[string]bool{},
		msgs: map[string]chan relaySinkMsg{}, hanging: map[string]chan struct{}{}, release: make(chan struct{})}
	s.addr = serveSink(t, func() gosmtp.Session { return &relaySinkSession{s: s} }, func() { close(s.release) })
	return s
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

func (s *relaySink) script(rcpt string, codes ...int) {
	s.mu.Lock()
	s.codes[rcpt] = codes
	s.mu.Unlock()
}

func (s *relaySink) hangOnce(rcpt string) {
	s.mu.Lock()
	s.hang[rcpt] = true
	s.mu.Unlock()
}

func (s *relaySink) chans(rcpt string) (chan relaySinkMsg, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.msgs[rcpt] == nil {
		s.msgs[rcpt] = make(chan relaySinkMsg, 10)
		s.hanging[rcpt] = make(chan struct{}, 10)
	}
	return s.msgs[rcpt], s.hanging[rcpt]
}

func (s *relaySink) rcptCount(rcpt string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[rcpt]
}

func (s *relaySink) wait(t *testing.T, rcpt string, limit time.Duration) relaySinkMsg {
	t.Helper()
	msgs, _ := s.chans(rcpt)
	select {
	case m := <-msgs:
		return m
	case <-time.After(limit):
		t.Fatalf("no message for %s after %v", rcpt, limit)
	}
	return relaySinkMsg{}
}

func (s *relaySink) waitHang(t *testing.T, rcpt string, limit time.Duration) {
	t.Helper()
	_, hanging := s.chans(rcpt)
	select {
	case <-hanging:
	case <-time.After(limit):
		t.Fatalf("no hanging DATA for %s after %v", rcpt, limit)
	}
}

type relaySinkSession struct {
	s     *relaySink
	from  string
	rcpts []string
}

func (ss *relaySinkSession) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *relaySinkSession) Logout() error { return nil }
func (ss *relaySinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *relaySinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s := ss.s
	s.mu.Lock()
	n := s.count[to]
	s.count[to]++
	code := 250
	if c := s.codes[to]; len(c) > 0 {
		code = c[min(n, len(c)-1)]
	}
	s.mu.Unlock()
	switch code / 100 {
	case 2:
		ss.rcpts = append(ss.rcpts, to)
		return nil
	case 4:
		return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{4, 2, 0}, Message: "Mailbox busy, try later"}
	}
	return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
}

func (ss *relaySinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	for _, rcpt := range ss.rcpts {
		s.mu.Lock()
		hang := s.hang[rcpt]
		s.hang[rcpt] = false
		s.mu.Unlock()
		msgs, hanging := s.chans(rcpt)
		if hang {
			// Never answer: the sender dies waiting for the reply.
			hanging <- struct{}{}
			<-s.release
			return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 0, 0}, Message: "gone"}
		}
		msgs <- relaySinkMsg{from: ss.from, data: string(b)}
	}
	return nil
}

func TestQueueCommandErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), nil)
	ctx := context.Background()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"queue"}, "missing subcommand"},
		{[]string{"queue", "purge"}, `unknown subcommand "purge"`},
		{[]string{"queue", "show"}, "want 1 argument, got 0"},
		{[]string{"queue", "show", "abc"}, `invalid queue id "abc"`},
		{[]string{"queue", "delete", "0"}, `invalid queue id "0"`},
		{[]string{"queue", "hold", "--all"}, "--all only applies to retry"},
		{[]string{"queue", "retry", "5", "--all"}, "an ID or --all, not both"},
		{[]string{"queue", "list", "5"}, "want no arguments"},
		{[]string{"queue", "show", "999"}, "no such queue item: 999"},
		{[]string{"queue", "retry", "999"}, "no such queue item: 999"},
		{[]string{"queue", "release", "999"}, "no such queue item: 999"},
	} {
		var out, errOut strings.Builder
		err := run(ctx, append(c.args, "--config", cfg), strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
	var out strings.Builder
	if err := run(ctx, []string{"queue", "list", "--config", cfg}, strings.NewReader(""), &out, io.Discard); err != nil || out.String() != "the queue is empty\n" {
		t.Errorf("list: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := run(ctx, []string{"queue", "retry", "--all", "--config", cfg}, strings.NewReader(""), &out, io.Discard); err != nil || out.String() != "0 item(s) due now\n" {
		t.Errorf("retry --all: %q, %v", out.String(), err)
	}
}
