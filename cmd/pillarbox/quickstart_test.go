package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestTOMLString: every string comes back from a TOML decoder as it
// went in.
func TestTOMLString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "/var/lib/pillarbox", `a"b`, `c:\dir\`, "tab\there", "new\nline", "\x01\x7f", "ünïcødé", `'single'`, `""" triple`} {
		var v struct{ K string }
		if _, err := toml.Decode("K = "+tomlString(s), &v); err != nil {
			t.Errorf("%q as %s: %v", s, tomlString(s), err)
			continue
		}
		if v.K != s {
			t.Errorf("%q as %s decodes to %q", s, tomlString(s), v.K)
		}
	}
}

// TestQuickstartConfigOddPaths: paths that need quoting make a config
// that loads with the same paths, for every certificate choice.
func TestQuickstartConfigOddPaths(t *testing.T) {
	t.Parallel()
	for _, acme := range []bool{true, false} {
		dir := t.TempDir()
		p := &quickstartPlan{Hostname: "mx.example.test", Domain: "example.test", ACME: acme,
			Config: filepath.Join(dir, "pillarbox.toml"), DataDir: filepath.Join(dir, `my "data" \ dir`)}
		if acme {
			p.ACMEEmail = `"odd\local"@example.test`
		}
		text, err := renderConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeVerifiedConfig(p.Config, text); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(p.Config)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DataDir != p.DataDir || cfg.TLS.ACME != acme || cfg.TLS.ACMEEmail != p.ACMEEmail {
			t.Errorf("acme %v: loaded data_dir %q, acme %v, email %q; want %q, %q", acme, cfg.DataDir, cfg.TLS.ACME, cfg.TLS.ACMEEmail, p.DataDir, p.ACMEEmail)
		}
	}
}

// TestWriteVerifiedConfigRefusesInvalid: text LoadConfig refuses is not
// put in place, and an existing file stays whole.
func TestWriteVerifiedConfigRefusesInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "pillarbox.toml")
	if err := os.WriteFile(path, []byte("hostname = \"old.example.test\"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	err := writeVerifiedConfig(path, []byte("hostname = \"mx.example.test\"\nno_such_key = 1\n"))
	if err == nil || !strings.Contains(err.Error(), "no_such_key") {
		t.Fatalf("invalid config: %v, want the loader's error", err)
	}
	got, _ := os.ReadFile(path)
	entries, _ := os.ReadDir(dir)
	if string(got) != "hostname = \"old.example.test\"\n" || len(entries) != 1 {
		t.Fatalf("after a refused write: %q, %d files", got, len(entries))
	}
}

// TestUnitOddPaths: a binary whose path holds a space and a "%", and a
// config and data dir whose paths also hold quotes, give a unit that
// systemd reads right: verify finds the binary (it checks that
// ExecStart's command exists). systemd refuses a quote in the command's
// own name whatever the quoting, so the binary's path has none.
func TestUnitOddPaths(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "odd dir 100%")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "pillar box")
	if err := os.Symlink(binPath, exe); err != nil {
		t.Fatal(err)
	}
	p := &quickstartPlan{Hostname: "mx.example.test", Domain: "example.test",
		Config: filepath.Join(dir, `the "config" $HOME.toml`), DataDir: filepath.Join(dir, `the "data"`)}
	unit, err := renderUnit(p, exe)
	if err != nil {
		t.Fatal(err)
	}
	// systemd expands "%" everywhere and "$" in command lines.
	if !strings.Contains(unit, "100%%/pillar box") || !strings.Contains(unit, `\"config\" $$HOME.toml"`) {
		t.Errorf("%% or $ not doubled:\n%s", unit)
	}
	verifyUnit(t, unit)
}
