package main

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeACMEPreflight: with ACME, what the config cannot tell is
// still found before anything is created: the CA roots file, the cache
// directory, and the [http]/[https] ports.
func TestServeACMEPreflight(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The subtests run after this function returns.
	t.Cleanup(func() { busy.Close() })
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	acme := func(c *Config) {
		c.Hostname = "mx.example.test"
		c.TLS.ACME = true
		// Should serve start after all, it asks nothing outside loopback.
		c.TLS.ACMEDirectory = "https://127.0.0.1:1/dir"
		c.HTTPS.Listen = "127.0.0.1:0"
	}
	for _, tc := range []struct {
		name  string
		edit  func(c *Config, dataDir string)
		setup func(t *testing.T, dataDir string)
		want  string
	}{
		{name: "roots missing", want: "tls.acme_ca_roots: open /nonexistent/roots.pem: no such file or directory",
			edit: func(c *Config, _ string) { c.TLS.ACMECARoots = "/nonexistent/roots.pem" }},
		{name: "roots without a certificate", want: "tls.acme_ca_roots: " + empty + ": no PEM certificate in it",
			edit: func(c *Config, _ string) { c.TLS.ACMECARoots = empty }},
		{name: "cache is a file", want: "tls.acme: {data}/acme: exists and is not a directory",
			setup: func(t *testing.T, dataDir string) {
				if err := os.MkdirAll(dataDir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dataDir, "acme"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "hostname without a dot", want: `tls.acme: hostname "localhost" is not a DNS name`,
			edit: func(c *Config, _ string) { c.Hostname = "localhost" }},
		{name: "https port taken", want: "https: cannot listen on " + busy.Addr().String(),
			edit: func(c *Config, _ string) { c.HTTPS.Listen = busy.Addr().String() }},
		{name: "http port taken", want: "http: cannot listen on " + busy.Addr().String(),
			edit: func(c *Config, _ string) { c.HTTP.Listen = busy.Addr().String() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "data")
			if tc.setup != nil {
				tc.setup(t, dataDir)
			}
			cfg := writeServeConfig(t, dataDir, func(c *Config) {
				acme(c)
				if tc.edit != nil {
					tc.edit(c, dataDir)
				}
			})
			serveRefused(t, cfg, dataDir, strings.ReplaceAll(tc.want, "{data}", dataDir))
			if tc.setup == nil {
				if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("data_dir made by a refused start: %v", err)
				}
			}
		})
	}
}
