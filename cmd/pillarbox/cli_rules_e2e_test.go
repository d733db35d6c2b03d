package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIShortPassword: a password of fewer than 8 characters on
// standard input is refused for user add and passwd, and nothing is
// changed; the old code took "pw".
func TestCLIShortPassword(t *testing.T) {
	t.Parallel()
	cfg := writeServeConfig(t, filepath.Join(t.TempDir(), "data"), nil)
	for _, args := range [][]string{
		{"user", "add", "alice@example.test", "--password-stdin"},
		{"user", "passwd", "bob@example.test", "--password-stdin"},
	} {
		if args[1] == "passwd" {
			mustCLI(t, "", "user", "add", "bob@example.test", "--config", cfg)
		}
		_, errOut, code := cli(t, "seven77\n", append(args, "--config", cfg)...)
		if code == 0 || !strings.Contains(errOut, "at least 8") {
			t.Errorf("%s with a 7-character password: exit %d, stderr %q", strings.Join(args[:2], " "), code, errOut)
		}
	}
	if users := mustCLI(t, "", "user", "list", "--config", cfg); strings.Contains(users, "alice@") {
		t.Errorf("alice added with a short password:\n%s", users)
	}
	// Eight characters are enough, and a generated password is long.
	mustCLI(t, "eight888\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	out := mustCLI(t, "", "user", "passwd", "alice@example.test", "--config", cfg)
	if f := strings.Fields(out); len(f) == 0 || len(f[len(f)-1]) < 8 {
		t.Errorf("generated password: %q", out)
	}
}

// TestCLIDeletePostmasterNeedsForce: postmaster@ receives the mail RFC
// 5321 4.5.1 requires; the old code deleted it like any user.
func TestCLIDeletePostmasterNeedsForce(t *testing.T) {
	t.Parallel()
	cfg := writeServeConfig(t, filepath.Join(t.TempDir(), "data"), nil)
	mustCLI(t, "", "user", "add", "postmaster@example.test", "--config", cfg)
	for _, addr := range []string{"postmaster@example.test", "PostMaster@example.test"} {
		_, errOut, code := cli(t, "", "user", "del", addr, "--config", cfg)
		if code == 0 || !strings.Contains(errOut, "--force") {
			t.Errorf("user del %s: exit %d, stderr %q, want a refusal naming --force", addr, code, errOut)
		}
	}
	if users := mustCLI(t, "", "user", "list", "--config", cfg); !strings.Contains(users, "postmaster@example.test") {
		t.Fatalf("postmaster gone after a refused del:\n%s", users)
	}
	if _, errOut, code := cli(t, "", "user", "list", "--force", "--config", cfg); code == 0 {
		t.Errorf("user list --force accepted: %q", errOut)
	}
	mustCLI(t, "", "user", "del", "postmaster@example.test", "--force", "--config", cfg)
	if users := mustCLI(t, "", "user", "list", "--config", cfg); strings.Contains(users, "postmaster@") {
		t.Errorf("postmaster still there after del --force:\n%s", users)
	}
}
