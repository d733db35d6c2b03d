package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"pillarbox/smtp/msgauth/dnstest"
)

// signingSelectors returns the s= of each DKIM-Signature of msg, sorted.
func signingSelectors(msg string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?s)DKIM-Signature:.*?\bs=([a-z0-9]+)`).FindAllStringSubmatch(msg, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return out
}

// TestDKIMRotationEndToEnd rotates the keys of a running server's domain
// with the CLI: mail stays signed with the old keys until the new
// records are published and seen, then with the new ones, which dkimpy
// verifies against the published records.
func TestDKIMRotationEndToEnd(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t)
	sink := startRelaySink(t)
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) {
		c.Submission.Listen = "127.0.0.1:0"
		c.Relay.Smarthost = sink.addr
		c.DNS.Resolver = dns.Addr()
	})
	published := parseZoneLines(t, mustCLI(t, "", "domain", "add", "example.test", "--config", cfg))
	for name, v := range published {
		dns.SetTXT(name, v)
	}
	mustCLI(t, "secret-pw\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)
	send := func(rcpt string) string {
		t.Helper()
		msg := "From: alice@example.test\r\nTo: " + rcpt + "\r\nSubject: rotation\r\n\r\nbody\r\n"
		submitPython(t, "python3", srv.addrs["submission"], rcpt, msg)
		return sink.wait(t, rcpt, 15*time.Second).data
	}

	out := mustCLI(t, "", "dkim", "rotate", "example.test", "--config", cfg)
	fresh := parseZoneLines(t, out)
	if len(fresh) != 2 || !strings.Contains(out, "the current keys sign until both records are seen") {
		t.Fatalf("dkim rotate printed:\n%s", out)
	}
	var oldSel, newSel []string
	for name := range published {
		oldSel = append(oldSel, strings.Split(name, ".")[0])
	}
	for name := range fresh {
		newSel = append(newSel, strings.Split(name, ".")[0])
	}
	slices.Sort(oldSel)
	slices.Sort(newSel)
	if _, _, code := cli(t, "", "dkim", "rotate", "example.test", "--config", cfg); code != 1 {
		t.Fatal("a second rotation was accepted while the first waits")
	}
	if zone := mustCLI(t, "", "dns", "example.test", "--config", cfg); strings.Count(zone, "new: publish it") != 2 {
		t.Fatalf("dns does not say which records are new:\n%s", zone)
	}

	// Not published yet: the check waits and the old keys sign.
	if out := mustCLI(t, "", "dkim", "check", "--config", cfg); !strings.Contains(out, "example.test: waiting") {
		t.Fatalf("dkim check before publishing:\n%s", out)
	}
	if got := signingSelectors(send("one@remote.test")); !slices.Equal(got, oldSel) {
		t.Fatalf("signed with %v before the switch, want %v", got, oldSel)
	}

	for name, v := range fresh {
		dns.SetTXT(name, v)
		published[name] = v
	}
	if out := mustCLI(t, "", "dkim", "check", "--config", cfg); !strings.Contains(out, "example.test: switched") {
		t.Fatalf("dkim check after publishing:\n%s", out)
	}
	msg := send("two@remote.test")
	if got := signingSelectors(msg); !slices.Equal(got, newSel) {
		t.Fatalf("signed with %v after the switch, want %v", got, newSel)
	}
	if zone := mustCLI(t, "", "dns", "example.test", "--config", cfg); strings.Count(zone, "retired: keep it until") != 2 {
		t.Fatalf("dns does not list the retired keys:\n%s", zone)
	}

	if py := dkimPython(); py != "" {
		file := filepath.Join(t.TempDir(), "msg.eml")
		if err := os.WriteFile(file, []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		recJSON, _ := json.Marshal(published)
		res, err := exec.Command(py, "-c", dkimpyVerify, file, string(recJSON)).CombinedOutput()
		if err != nil || strings.Count(string(res), "True") != 2 {
			t.Fatalf("dkimpy on mail signed with the new keys: %v\n%s", err, res)
		}
	}
	srv.stop(t)
}
