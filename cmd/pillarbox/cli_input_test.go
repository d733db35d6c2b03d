package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputLeavesNoDataDir checks that a command refused for its own
// arguments (an address without a domain, a quota that is not a size, a
// domain that is not a name) fails before it opens the store, which
// would create data_dir and a database for nothing: an operator who ran
// it in the wrong directory, or before serve, was left a data directory
// by a command that did nothing.
func TestBadInputLeavesNoDataDir(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"user", "add", "alice"},
		{"user", "add", "alice@"},
		{"user", "passwd", "@example.org"},
		{"user", "del", "alice"},
		{"user", "quota", "alice"},
		{"user", "quota", "alice@example.org", "2X"},
		{"domain", "add", "bad domain"},
		{"domain", "del", "a..example"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			dataDir := filepath.Join(dir, "data")
			cfgPath := filepath.Join(dir, "pillarbox.toml")
			cfg := "hostname = \"mail.example.org\"\ndomains = [\"example.org\"]\ndata_dir = " + quoteTOML(dataDir) + "\n"
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			err := run(context.Background(), append(args, "--config", cfgPath), strings.NewReader("a long password\n"), &out, &errOut)
			if err == nil {
				t.Fatalf("succeeded, want an error")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
			if _, serr := os.Stat(dataDir); serr == nil {
				t.Errorf("error %q, and data_dir %s was created", err, dataDir)
			}
		})
	}
}

func quoteTOML(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

// TestNegativeNumberIsAnArgument checks that "-1" where a size or an id
// goes is read as that argument, and refused as a size or id, rather
// than as an unknown flag "-1", which told the operator nothing about
// what was wrong: no flag starts with a digit.
func TestNegativeNumberIsAnArgument(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "quota", "alice@example.org", "-1"}, `user quota: invalid size "-1"`},
		{[]string{"user", "quota", "alice@example.org", "-5G"}, `user quota: invalid size "-5G"`},
		{[]string{"queue", "show", "-3"}, `queue show: invalid queue id "-3"`},
	} {
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "pillarbox.toml")
		cfg := "hostname = \"mail.example.org\"\ndomains = [\"example.org\"]\ndata_dir = " + quoteTOML(filepath.Join(dir, "data")) + "\n"
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		err := run(context.Background(), append(tc.args, "--config", cfgPath), strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
