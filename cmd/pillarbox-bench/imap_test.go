package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pbimap "pillarbox/imap"
	"pillarbox/mailbox"
	"pillarbox/store/sqlite"
)

// startIMAP starts Pillarbox's IMAP server on 127.0.0.1:0 over a store
// in a temporary directory, with the user u@example.test, password "pass".
func startIMAP(tb testing.TB) string {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "pillarbox.db"), sqlite.Options{Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.test"}, Logger: log, BcryptCost: 4})
	if err != nil {
		tb.Fatal(err)
	}
	if err := svc.AddUser(context.Background(), "u@example.test", "pass"); err != nil {
		tb.Fatal(err)
	}
	srv := pbimap.New(svc, pbimap.Options{Logger: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

func TestIMAPMode(t *testing.T) {
	t.Parallel()
	addr := startIMAP(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"imap", "--addr", addr, "--user", "u@example.test", "--pass", "pass",
		"--fill", "50", "--size", "3000", "--clients", "2", "--duration", "1s",
		"--idle", "3", "--idle-hold", "50ms"}, &stdout, &stderr)
	out := stdout.String()
	if err != nil {
		t.Fatalf("imap: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.Bytes())
	}
	t.Logf("\n%s", out)
	for _, want := range []string{
		"fill: appended 50 messages",
		"50 messages of 3000 bytes",
		"SELECT ",
		"FETCH 1:* (FLAGS) ",
		"UID SEARCH HEADER Subject ",
		"UID SEARCH BODY ",
		"UID FETCH 50 BODY.PEEK[] ",
		"mixed: 2 clients",
		" 0 errors",
		"idle: 3 of 3 connections established",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " min ") && !strings.Contains(line, " median ") {
			t.Errorf("timing line without median: %q", line)
		}
	}

	// A second run finds the mailbox full and appends nothing; --json
	// gives one line.
	stdout.Reset()
	stderr.Reset()
	err = run(context.Background(), []string{"imap", "--addr", addr, "--user", "u@example.test", "--pass", "pass",
		"--fill", "50", "--clients", "0", "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("second run: %v\nstderr:\n%s", err, stderr.Bytes())
	}
	var res imapJSON
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not one JSON line: %v\n%s", err, stdout.Bytes())
	}
	if res.Filled != 0 || res.Messages < 50 || len(res.Timings) != 5 {
		t.Errorf("second run: %+v", res)
	}
}

func TestIMAPRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"192.0.2.1:143", "example.com:143", "[2001:db8::1]:143"} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"imap", "--addr", addr, "--user", "u", "--pass", "p"}, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "only loopback") {
			t.Errorf("--addr %s: err = %v, want a loopback refusal", addr, err)
		}
	}
}
