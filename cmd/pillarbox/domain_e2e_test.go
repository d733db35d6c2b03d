package main

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/smtp/msgauth"
)

// zoneLineRE matches a DKIM key record as `domain add` prints it.
var zoneLineRE = regexp.MustCompile(`(?m)^(\S+)\._domainkey\.(\S+)\. IN TXT ((?:"[^"]*" ?)+)$`)

// parseZoneLines returns the DKIM records in out by DNS name, the
// character-strings joined as a verifier joins them (RFC 6376 3.6.2.2).
func parseZoneLines(t *testing.T, out string) map[string]string {
	t.Helper()
	recs := map[string]string{}
	for _, m := range zoneLineRE.FindAllStringSubmatch(out, -1) {
		var joined string
		for _, s := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(m[3], -1) {
			if len(s[1]) > 255 {
				t.Errorf("a character-string of %d bytes: %s", len(s[1]), m[0])
			}
			joined += s[1]
		}
		recs[m[1]+"._domainkey."+m[2]] = joined
	}
	return recs
}

// TestCLIDomains drives `pillarbox domain` against a running server: a
// domain added by the CLI is local in the server at once, its printed
// DKIM records are the public halves of the keys that sign, and delete
// is refused while users remain.
func TestCLIDomains(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, data, nil)
	srv := startServer(t, cfg, dir)

	// The server does not take mail for example.net yet.
	if err := mxSend(t, srv.addrs["smtp"], "x@remote.test", []string{"postmaster@example.net"},
		strings.NewReader("Subject: early\r\n\r\nx\r\n")); err == nil {
		t.Fatal("mail for example.net accepted before the domain was added")
	}

	out := mustCLI(t, "", "domain", "add", "Example.NET", "--config", cfg)
	m := regexp.MustCompile(`created postmaster@example\.net with password (\S+) `).FindStringSubmatch(out)
	if !strings.HasPrefix(out, "added domain example.net\n") || m == nil {
		t.Fatalf("domain add printed:\n%s", out)
	}
	recs := parseZoneLines(t, out)
	if len(recs) != 2 {
		t.Fatalf("%d DKIM records printed, want 2:\n%s", len(recs), out)
	}
	for name, rec := range recs {
		p := rec[strings.Index(rec, "p=")+2:]
		der, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch {
		case strings.HasPrefix(rec, "v=DKIM1; k=rsa; p="):
			pub, err := x509.ParsePKIXPublicKey(der)
			if k, ok := pub.(*rsa.PublicKey); err != nil || !ok || k.N.BitLen() != 2048 {
				t.Errorf("%s: RSA record: %T %v", name, pub, err)
			}
		case strings.HasPrefix(rec, "v=DKIM1; k=ed25519; p="):
			if len(der) != ed25519.PublicKeySize {
				t.Errorf("%s: Ed25519 key of %d bytes", name, len(der))
			}
		default:
			t.Errorf("%s: record %q", name, rec)
		}
	}
	if strings.Contains(strings.ToLower(out), "private") {
		t.Errorf("domain add printed something private:\n%s", out)
	}

	// Local in the running server without a restart: the postmaster's
	// mail is taken, and a user in the new domain can be made.
	if err := mxSend(t, srv.addrs["smtp"], "x@remote.test", []string{"postmaster@example.net"},
		strings.NewReader("Subject: hi\r\n\r\nfor the new domain\r\n")); err != nil {
		t.Fatalf("mail for the added domain: %v", err)
	}
	mustCLI(t, "pw-carol\n", "user", "add", "carol@example.net", "--password-stdin", "--config", cfg)

	// The keys in the database sign, and the printed records verify them.
	_, svc := openDataDir(t, data)
	keys, err := svc.DKIMSigningKeys(t.Context(), "example.net")
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys: %v, %v", keys, err)
	}
	mk := make([]msgauth.Key, len(keys))
	for i, k := range keys {
		mk[i] = msgauth.Key{Selector: k.Selector, Signer: k.Signer}
	}
	signed, err := msgauth.Sign([]byte("From: carol@example.net\r\nSubject: s\r\n\r\nbody\r\n"), "example.net", mk)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(string(signed)), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if r, ok := recs[name]; ok {
			return []string{r}, nil
		}
		return nil, fmt.Errorf("no record at %s", name)
	}})
	if err != nil || len(vs) != 2 || vs[0].Err != nil || vs[1].Err != nil {
		t.Fatalf("signatures with the stored keys against the printed records: %v %v", vs, err)
	}

	list := mustCLI(t, "", "domain", "list", "--config", cfg)
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "example.net (dkim pb") || !strings.HasPrefix(lines[1], "example.test (config, dkim pb") ||
		strings.Count(list, "rsa-sha256 active") != 2 || strings.Count(list, "ed25519-sha256 active") != 2 {
		t.Fatalf("domain list:\n%s", list)
	}

	failures := []struct {
		args []string
		want string
	}{
		{[]string{"domain", "add", "example.net"}, "already exists"},
		{[]string{"domain", "add", "not a domain"}, "domain"},
		{[]string{"domain", "del", "example.net"}, "1 other account(s) and 0 alias(es)"},
		{[]string{"domain", "del", "example.test", "--force"}, "config"},
		{[]string{"domain", "del", "nowhere.test"}, "no domain nowhere.test"},
		{[]string{"domain", "add", "x.test", "--force"}, "--force only applies to del"},
		{[]string{"domain", "add"}, "usage: pillarbox domain add name"},
		{[]string{"domain", "frob"}, "unknown subcommand"},
	}
	for _, f := range failures {
		_, errOut, code := cli(t, "", append(f.args, "--config", cfg)...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "pillarbox: domain") || !strings.Contains(strings.ToLower(lines[0]), strings.ToLower(f.want)) {
			t.Errorf("%v: exit %d, stderr %q; want one line with %q", f.args, code, errOut, f.want)
		}
	}

	mustCLI(t, "", "domain", "del", "example.net", "--force", "--config", cfg)
	if got := mustCLI(t, "", "user", "list", "--config", cfg); strings.Contains(got, "example.net") {
		t.Fatalf("users left in the deleted domain:\n%s", got)
	}
	if got := mustCLI(t, "", "domain", "list", "--config", cfg); strings.Contains(got, "example.net") {
		t.Fatalf("domain list after del:\n%s", got)
	}
	srv.stop(t)
}

// mxSend sends one message to the MX at addr with go-smtp's client.
func mxSend(t *testing.T, addr, from string, to []string, r *strings.Reader) error {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.SendMail(from, to, r)
}
