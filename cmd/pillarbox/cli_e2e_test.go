package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIAccounts drives the user and alias commands of the built binary
// before any server has run.
func TestCLIAccounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data", "nested")
	// The files checked are the SQLite store's.
	cfg := writeServeConfig(t, data, sqliteStore)

	// Flags after the positional argument, the password's newline dropped.
	mustCLI(t, "s3cret pass\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	if _, err := os.Stat(filepath.Join(data, "pillarbox.db")); err != nil {
		t.Fatalf("data dir not created: %v", err)
	}
	// The database holds every message and the password hashes: the CLI's
	// first run made it 0644 in a 0750 directory before.
	if st, err := os.Stat(data); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v, mode %v, want 0700", err, st.Mode().Perm())
	}
	entries, _ := os.ReadDir(data)
	for _, e := range entries {
		if info, err := e.Info(); err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v, want 0600", e.Name(), err, info.Mode().Perm())
		}
	}
	// Flags before it, and a generated password printed once.
	out := mustCLI(t, "", "user", "--config", cfg, "add", "Bob@EXAMPLE.test")
	if !strings.HasPrefix(out, "password for Bob@EXAMPLE.test: ") || len(strings.TrimSpace(out)) < len("password for Bob@EXAMPLE.test: ")+16 {
		t.Fatalf("generated password output %q", out)
	}
	mustCLI(t, "", "alias", "add", "team@example.test", "alice@example.test,bob@example.test", "--config", cfg)

	if got := mustCLI(t, "", "user", "list", "--config", cfg); got != "alice@example.test\nbob@example.test\n" {
		t.Fatalf("user list:\n%s", got)
	}
	if got := mustCLI(t, "", "alias", "list", "--config", cfg); got != "team@example.test alice@example.test,bob@example.test\n" {
		t.Fatalf("alias list:\n%s", got)
	}

	failures := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"existing user", "longenough\n", []string{"user", "add", "alice@example.test", "--password-stdin"}, "already"},
		{"unknown domain", "longenough\n", []string{"user", "add", "carol@example.com", "--password-stdin"}, "not local"},
		{"bad address", "longenough\n", []string{"user", "add", "carol", "--password-stdin"}, "invalid address"},
		{"password too long", strings.Repeat("p", 73) + "\n", []string{"user", "add", "carol@example.test", "--password-stdin"}, "72"},
		{"empty stdin", "", []string{"user", "add", "carol@example.test", "--password-stdin"}, "password"},
		{"unknown user", "", []string{"user", "del", "nobody@example.test"}, "no such user"},
		{"alias over user", "", []string{"alias", "add", "alice@example.test", "bob@example.test"}, "is a user"},
		{"alias to stranger", "", []string{"alias", "add", "x@example.test", "nobody@example.test"}, "no such user"},
		{"missing argument", "", []string{"user", "add"}, "usage"},
		{"unknown flag", "", []string{"user", "list", "--frob"}, "frob"},
		{"unknown command", "", []string{"frobnicate"}, "unknown command"},
	}
	for _, f := range failures {
		args := append(f.args, "--config", cfg)
		if f.name == "unknown command" {
			args = f.args
		}
		_, errOut, code := cli(t, f.stdin, args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		last := lines[len(lines)-1]
		if code == 0 || !strings.Contains(strings.ToLower(last), f.want) || !strings.HasPrefix(last, "pillarbox: ") {
			t.Errorf("%s: exit %d, stderr %q; want non-zero and a line with %q", f.name, code, errOut, f.want)
		}
		if f.name != "unknown command" && f.name != "missing argument" && len(lines) != 1 {
			t.Errorf("%s: error is not one line: %q", f.name, errOut)
		}
	}

	mustCLI(t, "new pass\n", "user", "passwd", "alice@example.test", "--password-stdin", "--config", cfg)
	mustCLI(t, "", "alias", "del", "team@example.test", "--config", cfg)
	mustCLI(t, "", "user", "del", "bob@example.test", "--config", cfg)
	if got := mustCLI(t, "", "user", "list", "--config", cfg); got != "alice@example.test\n" {
		t.Fatalf("user list after del:\n%s", got)
	}
	if got := mustCLI(t, "", "alias", "list", "--config", cfg); got != "" {
		t.Fatalf("alias list after del:\n%s", got)
	}

	_, errOut, code := cli(t, "", "user", "list", "--config", filepath.Join(dir, "missing.toml"))
	if code == 0 || !strings.Contains(errOut, "missing.toml") {
		t.Fatalf("missing config: exit %d, %q", code, errOut)
	}
}
