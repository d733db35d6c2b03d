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
	pbsmtp "pillarbox/smtp"
	"pillarbox/store/sqlite"
)

// startGuessTargets starts Pillarbox's IMAP and submission servers on
// 127.0.0.1:0 sharing one login throttle th, as serve wires them, with
// the user victim@example.test.
func startGuessTargets(t *testing.T, th *mailbox.Throttle) (imapAddr, subAddr string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "pillarbox.db"), sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.test"}, Logger: log, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.AddUser(context.Background(), "victim@example.test", "right"); err != nil {
		t.Fatal(err)
	}
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	is := pbimap.New(svc, pbimap.Options{Logger: log, Throttle: th})
	ln := listen()
	go is.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		is.Shutdown(ctx)
	})
	ss := pbsmtp.NewSubmission(svc, pbsmtp.SubmissionOptions{Options: pbsmtp.Options{Logger: log}, Throttle: th})
	ln2 := listen()
	go ss.Serve(ln2)
	t.Cleanup(func() { ss.Close() })
	return ln.Addr().String(), ln2.Addr().String()
}

func runGuess(t *testing.T, args ...string) guessJSON {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), append(append([]string{"guess"}, args...), "--json"), &stdout, &stderr); err != nil {
		t.Fatalf("guess %v: %v\n%s", args, err, stderr.Bytes())
	}
	t.Logf("guess %v:\n%s", args, stderr.Bytes())
	var res guessJSON
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not one JSON line: %v\n%s", err, stdout.Bytes())
	}
	return res
}

// TestGuessMode counts checked and refused guesses over both protocols.
// The throttle's clock stands still and its spacing is an hour, so that
// exactly the budget is checked per address whatever the machine's speed,
// and the rest is refused: also over submission, whose throttle is IMAP's.
func TestGuessMode(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	const budget = 2
	th := mailbox.NewThrottle(mailbox.ThrottleOptions{Budget: budget, Base: time.Hour, Max: time.Hour, MaxWait: time.Second,
		Now: func() time.Time { return now }})
	imapAddr, subAddr := startGuessTargets(t, th)

	res := runGuess(t, "--addr", imapAddr, "--proto", "imap", "--user", "victim@example.test", "-c", "3", "--duration", "300ms")
	if res.Checked != budget || res.Refused == 0 || res.Accepted != 0 || res.Errors != 0 {
		t.Errorf("imap: %+v, want %d checked and some refused", res, budget)
	}
	res = runGuess(t, "--addr", subAddr, "--proto", "submission", "--user", "victim@example.test", "-c", "2",
		"--duration", "300ms", "--reuse=false")
	if res.Checked != 0 || res.Refused == 0 || res.Accepted != 0 || res.Errors != 0 {
		t.Errorf("submission after imap: %+v, want all refused", res)
	}
	// Two more addresses get one guess each before the account's own
	// schedule (now an hour away) holds them back too.
	res = runGuess(t, "--addr", imapAddr, "--proto", "imap", "--user", "victim@example.test", "-c", "4",
		"--sources", "3", "--duration", "300ms")
	if res.Checked != 2 || res.Refused == 0 || res.Errors != 0 {
		t.Errorf("imap from 3 addresses: %+v, want 2 checked (127.0.0.2 and .3) and some refused", res)
	}
}

func TestGuessModeFlags(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--proto", "imap"}, "--user is required"},
		{[]string{"--user", "u", "--proto", "pop3"}, "want imap or submission"},
		{[]string{"--user", "u", "--addr", "192.0.2.1:143"}, "only loopback"},
		{[]string{"--user", "u", "--addr", "[::1]:143", "--sources", "2"}, "needs an IPv4"},
		{[]string{"--user", "u", "--sources", "300"}, "between 1 and 254"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"guess"}, c.args...), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("guess %v: %v, want %q", c.args, err, c.want)
		}
	}
}
