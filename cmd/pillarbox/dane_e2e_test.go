package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pillarbox/smtp/msgauth/dnstest"
)

// DANE is off without [dns] dnssec, and the log says so once at start.
// With dnssec = true and a resolver that sets no AD bit, the log warns
// that DANE will never apply.
func TestDANEStartLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), nil)
	srv := startServer(t, cfg, dir)
	srv.waitLog(t, `DANE is off`, 10*time.Second)
	srv.stop(t)
	if n := strings.Count(srv.log(), "DANE is off"); n != 1 {
		t.Errorf("%d lines say DANE is off, want 1", n)
	}

	dns := dnstest.Start(t) // answers without the AD bit: not validating
	dir2 := t.TempDir()
	cfg2 := writeServeConfig(t, filepath.Join(dir2, "data"), func(c *Config) {
		c.DNS.Resolver = dns.Addr()
		c.DNS.DNSSEC = true
	})
	srv2 := startServer(t, cfg2, dir2)
	srv2.waitLog(t, `DANE is on`, 10*time.Second)
	srv2.waitLog(t, `the resolver does not set the AD bit`, 10*time.Second)
	srv2.stop(t)
	if strings.Contains(srv2.log(), "DANE is off") {
		t.Error("DANE said to be off with dnssec = true")
	}
}
