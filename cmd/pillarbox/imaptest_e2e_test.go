package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// imaptestScript is Dovecot's imaptest wrapper beside the repository on
// the development machine; PILLARBOX_IMAPTEST names another.
func imaptestScript() string {
	if p := os.Getenv("PILLARBOX_IMAPTEST"); p != "" {
		return p
	}
	return filepath.Join("..", "..", "..", "shared", "imaptest", "run.sh")
}

// TestIMAPTestConformance runs Dovecot's imaptest scripted conformance
// tests against the built binary when the tool is present, and fails on
// any failed group or command. Groups are skipped only for capabilities
// Pillarbox does not offer (URLAUTH, NOTIFY, CONTEXT=SEARCH...).
func TestIMAPTestConformance(t *testing.T) {
	script := imaptestScript()
	if _, err := os.Stat(script); err != nil {
		t.Skipf("imaptest not found at %s (set PILLARBOX_IMAPTEST)", script)
	}
	if _, err := os.Stat("/usr/lib/dovecot/libdovecot.so.0"); err != nil {
		t.Skip("imaptest needs libdovecot (Debian's dovecot-core)")
	}
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) {
		c.IMAP.Listen = "127.0.0.1:0"
	})
	const user, pass = "testuser1@example.test", "imaptest-pass"
	mustCLI(t, pass+"\n", "user", "add", user, "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)
	host, port, err := net.SplitHostPort(srv.addrs["imap"])
	if err != nil {
		t.Fatalf("IMAP listener %q: %v", srv.addrs["imap"], err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// imaptest exits 2 when a test fails; the totals say more.
	out, err := exec.CommandContext(ctx, script, "conformance", host, port, user, pass).CombinedOutput()
	m := regexp.MustCompile(`(\d+) test groups: (\d+) failed, (\d+) skipped[^\n]*\nbase protocol: (\d+)/(\d+)[^\n]*\nextensions: (\d+)/(\d+)`).
		FindSubmatch(out)
	if m == nil {
		t.Fatalf("imaptest: %v, and no totals in its output:\n%s", err, tail(out, 4000))
	}
	t.Logf("imaptest: %s groups, %s failed, %s skipped; base %s/%s, extensions %s/%s failed",
		m[1], m[2], m[3], m[4], m[5], m[6], m[7])
	if string(m[2]) != "0" || string(m[4]) != "0" || string(m[6]) != "0" {
		t.Errorf("imaptest conformance failures:\n%s", tail(out, 8000))
	}
}

// TestIMAPTestStress runs imaptest's load generator, whose clients
// check every response against the state they track, against the built
// binary: several sessions on each mailbox storing, expunging, copying,
// searching, sorting and threading at once. Any error line fails it:
// that is how a SEARCH that left out a message another session had
// expunged, without EXPUNGEISSUED, was found.
func TestIMAPTestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("a load run of some seconds")
	}
	script := imaptestScript()
	if _, err := os.Stat(script); err != nil {
		t.Skipf("imaptest not found at %s (set PILLARBOX_IMAPTEST)", script)
	}
	if _, err := os.Stat("/usr/lib/dovecot/libdovecot.so.0"); err != nil {
		t.Skip("imaptest needs libdovecot (Debian's dovecot-core)")
	}
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) {
		c.IMAP.Listen = "127.0.0.1:0"
	})
	const users, pass = 4, "imaptest-pass"
	for i := 1; i <= users; i++ {
		mustCLI(t, pass+"\n", "user", "add", fmt.Sprintf("testuser%d@example.test", i), "--password-stdin", "--config", cfg)
	}
	srv := startServer(t, cfg, dir)
	host, port, err := net.SplitHostPort(srv.addrs["imap"])
	if err != nil {
		t.Fatalf("IMAP listener %q: %v", srv.addrs["imap"], err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, script, "stress", host, port, "testuser%d@example.test", pass,
		fmt.Sprintf("users=%d", users), "clients=12", "secs=8",
		"search=50", "sort=30", "thread=30", "copy=30").CombinedOutput()
	if err != nil {
		t.Fatalf("imaptest: %v\n%s", err, tail(out, 4000))
	}
	var errs []string
	for l := range strings.Lines(string(out)) {
		if strings.Contains(l, "Error:") || strings.Contains(l, "Panic:") {
			errs = append(errs, l)
		}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("imaptest stress, totals of each command: %s", lines[len(lines)-1])
	if len(errs) > 0 {
		t.Errorf("imaptest stress: %d error lines, first:\n%s", len(errs), strings.Join(errs[:min(len(errs), 10)], ""))
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
