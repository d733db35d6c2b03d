package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pillarbox/mailbox"
	pbsmtp "pillarbox/smtp"
	"pillarbox/store/sqlite"
)

// pillarbox is an in-process Pillarbox MX wired as serve wires it, on
// 127.0.0.1:0 with its store in a temporary data directory.
type pillarbox struct {
	addr    string
	dataDir string
	db      *sqlite.DB
}

// startPillarbox starts a server with users testuser1..users@example.test.
func startPillarbox(tb testing.TB, users int) *pillarbox {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	// Log like serve does (a text line per message), into nothing.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(filepath.Join(dir, "pillarbox.db"), sqlite.Options{Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.test"}, Logger: log, BcryptCost: 4})
	if err != nil {
		tb.Fatal(err)
	}
	for i := 1; i <= users; i++ {
		if err := svc.AddUser(ctx, fmt.Sprintf("testuser%d@example.test", i), "pass"); err != nil {
			tb.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	mx := pbsmtp.NewMX(svc, pbsmtp.Options{Hostname: "localhost", Logger: log})
	go mx.Serve(ln)
	tb.Cleanup(func() { mx.Close() })
	return &pillarbox{addr: ln.Addr().String(), dataDir: dir, db: db}
}

// runJSON runs the command with --json and decodes its result line.
func runJSON(t *testing.T, args ...string) (smtpJSON, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append(args, "--json"), &stdout, &stderr)
	var res smtpJSON
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		t.Fatalf("stdout is not one JSON line: %v\nstdout: %s\nstderr: %s", jerr, stdout.Bytes(), stderr.Bytes())
	}
	return res, err
}

func TestSMTPDeliversAndVerifies(t *testing.T) {
	t.Parallel()
	for _, reuse := range []string{"true", "false"} {
		t.Run("reuse="+reuse, func(t *testing.T) {
			t.Parallel()
			pb := startPillarbox(t, 5)
			res, err := runJSON(t, "smtp", "--addr", pb.addr, "-n", "60", "-c", "4", "--size", "3000",
				"--users", "5", "--reuse="+reuse, "--verify-db", pb.dataDir)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if res.Delivered != 60 || res.Failed != 0 || res.Attempted != 60 {
				t.Errorf("delivered %d, failed %d, attempted %d; want 60, 0, 60", res.Delivered, res.Failed, res.Attempted)
			}
			if res.Verified == nil || !*res.Verified {
				t.Errorf("verified = %v (%s), want true", res.Verified, res.VerifyError)
			}
			if res.MsgPerS <= 0 || res.P50MS <= 0 || res.P99MS < res.P50MS || res.MaxMS < res.P99MS {
				t.Errorf("implausible figures: %+v", res)
			}
		})
	}
}

func TestSMTPCountsRefusals(t *testing.T) {
	t.Parallel()
	pb := startPillarbox(t, 2)
	// testuser3 does not exist: every third message is refused at RCPT.
	res, err := runJSON(t, "smtp", "--addr", pb.addr, "-n", "9", "-c", "2", "--users", "3")
	if err == nil || !strings.Contains(err.Error(), "3 of 9 messages failed") {
		t.Errorf("run error = %v, want one naming 3 of 9 failed", err)
	}
	if res.Delivered != 6 || res.Failures["550"] != 3 {
		t.Errorf("delivered %d, failures %v; want 6 and 550:3", res.Delivered, res.Failures)
	}
}

func TestSMTPVerifyNoticesMissingMail(t *testing.T) {
	t.Parallel()
	pb := startPillarbox(t, 1)
	ctx := context.Background()
	c, err := openDBCounter(pb.dataDir, []string{"example.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := "testuser1@example.test"
	// One message claimed accepted that never arrived.
	_, err = verifyDelivery(ctx, c, map[string]int{addr: 0}, map[string]int{addr: 1}, time.Time{}, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "1 of 1 mailboxes are 1 messages short") {
		t.Errorf("verify error = %v, want a shortfall", err)
	}
	// Mail that arrived beyond what was accepted is an error too.
	_, err = verifyDelivery(ctx, c, map[string]int{addr: -1}, map[string]int{addr: 0}, time.Time{}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "more arrived than were accepted") {
		t.Errorf("verify error = %v, want a surplus", err)
	}
}

func TestVerifyDBRefusesMissingDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := openDBCounter(dir, []string{"example.test"}, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("openDBCounter on an empty directory succeeded")
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) > 0 {
		t.Errorf("openDBCounter created %v", matches)
	}
}

func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:25", true},
		{"127.8.9.10:2525", true},
		{"[::1]:25", true},
		{"localhost:25", true},
		{"LocalHost:25", true},
		{"[::ffff:127.0.0.1]:25", true},
		{"10.0.0.1:25", false},
		{"0.0.0.0:25", false},
		{"[::]:25", false},
		{"mx.example.org:25", false},
		{"127.0.0.1", false}, // no port
	}
	for _, tt := range tests {
		err := checkLoopback("addr", tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%t", tt.addr, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("checkLoopback(%q) error has more than one line: %q", tt.addr, err)
		}
	}
}

func TestSMTPRefusesRemoteAddresses(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"smtp", "--addr", "192.0.2.1:25"},
		{"smtp", "--addr", "127.0.0.1:25", "--verify-imap", "192.0.2.1:143", "--verify-pass", "x"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "only loopback") {
			t.Errorf("run %v = %v, want a loopback refusal", args, err)
		}
	}
}

func TestRecipients(t *testing.T) {
	t.Parallel()
	got, err := recipients("u%d@example.test", 3)
	if err != nil || strings.Join(got, " ") != "u1@example.test u2@example.test u3@example.test" {
		t.Errorf("recipients template = %v, %v", got, err)
	}
	got, err = recipients("alice@example.test", 100)
	if err != nil || len(got) != 1 || got[0] != "alice@example.test" {
		t.Errorf("recipients literal = %v, %v", got, err)
	}
	if _, err := recipients("nobody", 1); err == nil {
		t.Error("recipients without @ succeeded")
	}
}

func TestMessageGen(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for _, size := range []int{10240, 1000, 100000} {
		g := newMessageGen("bench@example.net", size)
		ids := make(map[string]bool)
		for i := range int64(20) {
			raw := g.appendMessage(nil, i, "testuser1@example.test", now)
			if len(raw) < size-1 || len(raw) > size {
				t.Errorf("size %d: message %d is %d bytes", size, i, len(raw))
			}
			m, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("size %d: message %d does not parse: %v", size, i, err)
			}
			for _, h := range []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type"} {
				if m.Header.Get(h) == "" {
					t.Errorf("size %d: message %d has no %s", size, i, h)
				}
			}
			if d, err := m.Header.Date(); err != nil || !d.Equal(now) {
				t.Errorf("Date = %v, %v", d, err)
			}
			id := m.Header.Get("Message-Id")
			if ids[id] {
				t.Errorf("Message-ID %s repeats", id)
			}
			ids[id] = true
			for n, line := range bytes.SplitAfter(raw, []byte("\r\n")) {
				if len(line) > 0 && !bytes.HasSuffix(line, []byte("\r\n")) || len(line) > 80 || bytes.ContainsAny(bytes.TrimSuffix(line, []byte("\r\n")), "\r\n") {
					t.Fatalf("size %d: message %d line %d is not a short CRLF line: %q", size, i, n, line)
				}
			}
		}
	}
	// Two runs never share Message-IDs.
	a := newMessageGen("bench@example.net", 500).appendMessage(nil, 0, "x@example.test", now)
	b := newMessageGen("bench@example.net", 500).appendMessage(nil, 0, "x@example.test", now)
	ma, _ := mail.ReadMessage(bytes.NewReader(a))
	mb, _ := mail.ReadMessage(bytes.NewReader(b))
	if ma.Header.Get("Message-Id") == mb.Header.Get("Message-Id") {
		t.Error("two runs made the same Message-ID")
	}
}
