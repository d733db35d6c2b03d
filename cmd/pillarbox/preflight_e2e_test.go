package main

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveRefused runs serve with cfg, which must fail, and checks that it
// said why in one line holding want, and that it printed nothing and
// created no database in dataDir.
func serveRefused(t *testing.T, cfg, dataDir, want string) {
	t.Helper()
	// A serve that does not refuse would run until killed: the deadline
	// turns that into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "serve", "--config", cfg)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out, errOut := stdout.String(), stderr.String()
	if ctx.Err() != nil {
		t.Fatalf("serve still running after 30s, want a refusal; stderr:\n%s", errOut)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("serve: %v, want a failed exit", err)
	}
	if out != "" {
		t.Errorf("serve printed %q before failing, want nothing", out)
	}
	last := strings.TrimSpace(errOut)
	if !strings.HasPrefix(last, "pillarbox: ") || !strings.Contains(last, want) || strings.Contains(last, "\n") {
		t.Errorf("serve stderr %q, want one line holding %q", errOut, want)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pillarbox.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("database in %s after a refused start: %v", dataDir, err)
	}
}

// TestServePortTakenCreatesNothing: the old serve created the database
// and printed the postmaster's password before it found its port taken.
func TestServePortTakenCreatesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, name := range []string{"smtp", "imap", "submission", "admin"} {
		t.Run(name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			cfg := writeServeConfig(t, dataDir, func(c *Config) {
				switch name {
				case "smtp":
					c.SMTP.Listen = busy.Addr().String()
				case "imap":
					c.IMAP.Listen = busy.Addr().String()
				case "submission":
					c.Submission.Listen = busy.Addr().String()
				case "admin":
					c.Admin.Listen = busy.Addr().String()
				}
			})
			serveRefused(t, cfg, dataDir, name+": cannot listen on "+busy.Addr().String())
			if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("data_dir made by a refused start: %v", err)
			}
		})
	}
}

// TestServeMissingCertCreatesNothing: the old serve made the database and
// the postmaster before it tried the certificate files.
func TestServeMissingCertCreatesNothing(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	missing := filepath.Join(t.TempDir(), "cert.pem")
	cfg := writeServeConfig(t, dataDir, func(c *Config) {
		c.TLS.Cert = missing
		c.TLS.Key = missing
	})
	serveRefused(t, cfg, dataDir, "tls certificate: load "+missing)
}

// TestServeDataDirUnusable: a data_dir that cannot be used is named, with
// the reason, in one line.
func TestServeDataDirUnusable(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("not a directory", func(t *testing.T) {
		serveRefused(t, writeServeConfig(t, file, nil), tmp, "data_dir "+file+": exists and is not a directory")
	})
	t.Run("missing parent", func(t *testing.T) {
		dir := filepath.Join(tmp, "nonexistent", "data")
		serveRefused(t, writeServeConfig(t, dir, nil), tmp, "its parent directory "+filepath.Join(tmp, "nonexistent")+" does not exist")
		if _, err := os.Stat(filepath.Join(tmp, "nonexistent")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("parent made by a refused start: %v", err)
		}
	})
	// A directory the server cannot write to: mode 0500 for an ordinary
	// user; root ignores modes, so as root sysfs, where nobody may create
	// a file.
	readOnly := filepath.Join(tmp, "ro")
	if os.Getuid() == 0 {
		readOnly = "/sys"
	} else if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	if f, err := os.CreateTemp(readOnly, "probe"); err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Fatalf("%s is writable here; the test needs a directory that is not", readOnly)
	}
	t.Run("read-only", func(t *testing.T) {
		serveRefused(t, writeServeConfig(t, readOnly, nil), tmp, "data_dir "+readOnly+": not writable")
	})
	t.Run("missing under read-only", func(t *testing.T) {
		dir := filepath.Join(readOnly, "data")
		serveRefused(t, writeServeConfig(t, dir, nil), tmp, "data_dir "+dir+": does not exist and cannot be created: "+readOnly+" is not writable")
	})
}
