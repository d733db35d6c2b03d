package main

import (
	"strings"
	"testing"
)

// TestHelpEveryCommand asks every command and subcommand for its usage
// with -h and --help: the old code printed nothing and exited 1.
func TestHelpEveryCommand(t *testing.T) {
	cases := [][]string{
		{"serve"},
		{"user"}, {"user", "add"}, {"user", "passwd"}, {"user", "del"}, {"user", "list"}, {"user", "quota"},
		{"alias"}, {"alias", "add"}, {"alias", "del"}, {"alias", "list"},
		{"domain"}, {"domain", "add"}, {"domain", "del"}, {"domain", "list"},
		{"dns"}, {"dns", "check"},
		{"dkim"}, {"dkim", "rotate"}, {"dkim", "check"}, {"dkim", "cancel"},
		{"queue"}, {"queue", "list"}, {"queue", "show"}, {"queue", "retry"},
		{"queue", "hold"}, {"queue", "release"}, {"queue", "delete"},
	}
	for _, c := range cases {
		for _, flag := range []string{"--help", "-h"} {
			args := append(append([]string{}, c...), flag)
			out, errOut, code := cli(t, "", args...)
			name := strings.Join(args, " ")
			if code != 0 {
				t.Errorf("pillarbox %s: exit %d, want 0 (stderr %q)", name, code, errOut)
				continue
			}
			want := "pillarbox " + strings.Join(c, " ")
			if !strings.HasPrefix(out, "usage:\n") || !strings.Contains(out, want) || !strings.Contains(out, "-config") {
				t.Errorf("pillarbox %s: stdout %q, want a usage naming %q and its flags", name, out, want)
			}
			if errOut != "" {
				t.Errorf("pillarbox %s: stderr %q, want nothing", name, errOut)
			}
		}
	}
	// A subcommand's help names only that subcommand.
	out := mustCLI(t, "", "user", "add", "--help")
	if strings.Contains(out, "user del") || !strings.Contains(out, "--password-stdin") {
		t.Errorf("user add --help:\n%s", out)
	}
	// --help after other arguments still answers, and does nothing else.
	out = mustCLI(t, "", "serve", "--config", "/nonexistent/pillarbox.toml", "--help")
	if !strings.Contains(out, "pillarbox serve") {
		t.Errorf("serve --config F --help:\n%s", out)
	}
}
