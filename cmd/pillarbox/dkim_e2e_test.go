package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dkimPython returns a python3 that can import dkimpy and PyNaCl (its
// Ed25519 support), or "" when there is none. Debian's python3-dkim and
// python3-nacl live in /usr/bin/python3's path, which a python3 earlier
// on PATH may not see.
func dkimPython() string {
	var cands []string
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/python3")
	for _, p := range cands {
		if exec.Command(p, "-c", "import dkim, nacl").Run() == nil {
			return p
		}
	}
	return ""
}

// dkimpyVerify verifies every DKIM-Signature of msg with dkimpy, its DNS
// answered from records (name → TXT value), and returns one line per
// signature: "<a=> <d=> True|False".
const dkimpyVerify = `
import json, sys, dkim
records = json.loads(sys.argv[2])
def dnsfunc(name, timeout=5):
    r = records.get(name.decode().rstrip('.'))
    return r.encode() if r is not None else None
msg = open(sys.argv[1], 'rb').read()
d = dkim.DKIM(msg, minkey=1024)
n = sum(1 for k, v in d.headers if k.lower() == b'dkim-signature')
for i in range(n):
    ok = d.verify(idx=i, dnsfunc=dnsfunc)
    print(d.signature_fields[b'a'].decode(), d.signature_fields[b'd'].decode(), ok)
`

// TestDKIMVerifiedByDkimpy relays a message through the built binary to
// a loopback smarthost and verifies both of its signatures with a second
// DKIM implementation, dkimpy, against the records `domain add` printed.
func TestDKIMVerifiedByDkimpy(t *testing.T) {
	t.Parallel()
	py := dkimPython()
	if py == "" {
		t.Skip("python3 with dkim and nacl (python3-dkim, python3-nacl) not installed")
	}
	sink := startRelaySink(t)
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) {
		c.Submission.Listen = "127.0.0.1:0"
		c.Relay.Smarthost = sink.addr
	})
	// The config's domain, added before the first start: serve finds it
	// there and makes no other keys.
	out := mustCLI(t, "", "domain", "add", "example.test", "--config", cfg)
	records := parseZoneLines(t, out)
	if len(records) != 2 {
		t.Fatalf("domain add printed:\n%s", out)
	}
	mustCLI(t, "secret-pw\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)

	// Folded and long header lines, trailing spaces and an empty line at
	// the end of the body exercise relaxed canonicalization on both sides.
	msg := "From: Alice <alice@example.test>\r\nTo: bob@remote.test\r\n" +
		"Subject: signed by\r\n  pillarbox \r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Hello   from   smtplib. \r\n" + strings.Repeat("a long line ", 40) + "\r\n\r\n"
	submitPython(t, "python3", srv.addrs["submission"], "bob@remote.test", msg)
	got := sink.wait(t, "bob@remote.test", 15*time.Second)

	file := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(file, []byte(got.data), 0o600); err != nil {
		t.Fatal(err)
	}
	recJSON, _ := json.Marshal(records)
	res, err := exec.Command(py, "-c", dkimpyVerify, file, string(recJSON)).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, res)
	}
	lines := strings.Split(strings.TrimSpace(string(res)), "\n")
	want := map[string]bool{"rsa-sha256 example.test True": true, "ed25519-sha256 example.test True": true}
	if len(lines) != 2 || !want[lines[0]] || !want[lines[1]] || lines[0] == lines[1] {
		t.Fatalf("dkimpy says:\n%s\nmessage:\n%s", res, got.data)
	}

	// A second From added in transit fails both for dkimpy too.
	forged := strings.Replace(got.data, "From: Alice", "From: ceo@example.test\r\nFrom: Alice", 1)
	if err := os.WriteFile(file, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err = exec.Command(py, "-c", dkimpyVerify, file, string(recJSON)).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, res)
	}
	if strings.Count(string(res), "False") != 2 {
		t.Fatalf("dkimpy on a message with a second From:\n%s", res)
	}
	srv.stop(t)
}
