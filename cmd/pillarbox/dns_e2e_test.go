package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pillarbox/smtp/msgauth/dnstest"
)

// TestDNSCommands: `dns NAME` prints the zone lines, and `dns check
// NAME` finds them right when a DNS server publishes them, wrong when a
// record differs, and missing when it is not there, exiting 1 for a
// required record.
func TestDNSCommands(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t)
	cfg := writeServeConfig(t, filepath.Join(t.TempDir(), "data"), func(c *Config) {
		c.DNS.Resolver = dns.Addr()
	})
	mustCLI(t, "", "domain", "add", "club.test", "--config", cfg)
	zone := mustCLI(t, "", "dns", "club.test", "--config", cfg)
	for _, want := range []string{"club.test. IN MX 10 mx.example.test.", `club.test. IN TXT "v=spf1 mx ~all"`,
		"._domainkey.club.test. IN TXT \"v=DKIM1; k=rsa; p=", "._domainkey.club.test. IN TXT \"v=DKIM1; k=ed25519; p=",
		`_dmarc.club.test. IN TXT "v=DMARC1; p=reject;`, "_submission._tcp.club.test. IN SRV", "PTR record"} {
		if !strings.Contains(zone, want) {
			t.Fatalf("dns club.test lacks %q:\n%s", want, zone)
		}
	}

	// Nothing published yet: every required record is missing.
	out, errOut, code := cli(t, "", "dns", "check", "club.test", "--config", cfg)
	if code != 1 || !strings.Contains(out, "missing club.test. MX") || !strings.HasPrefix(errOut, "pillarbox: dns check: ") {
		t.Fatalf("check with nothing published: exit %d\n%s%s", code, out, errOut)
	}

	// Publish what `dns` printed (TXT and MX).
	txt := regexp.MustCompile(`(?m)^(\S+) IN TXT (.*)$`)
	for _, m := range txt.FindAllStringSubmatch(zone, -1) {
		var parts []string
		for _, p := range regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(m[2], -1) {
			parts = append(parts, p[1])
		}
		dns.SetTXT(m[1], strings.Join(parts, ""))
	}
	dns.SetMX("club.test", "mx.example.test")
	out, errOut, code = cli(t, "", "dns", "check", "club.test", "--config", cfg)
	if code != 0 || strings.Contains(out, "wrong") {
		t.Fatalf("check with the records published: exit %d\n%s%s", code, out, errOut)
	}
	if n := strings.Count(out, "\nok ") + strings.Count(out[:3], "ok "); n < 6 {
		t.Fatalf("want at least 6 records ok:\n%s", out)
	}

	// A weaker DMARC policy and an MX elsewhere are wrong.
	dns.SetTXT("_dmarc.club.test", "v=DMARC1; p=none")
	dns.SetMX("club.test", "mail.elsewhere.test")
	out, _, code = cli(t, "", "dns", "check", "club.test", "--config", cfg)
	if code != 1 || !strings.Contains(out, "wrong   _dmarc.club.test. TXT: found v=DMARC1; p=none") ||
		!strings.Contains(out, "wrong   club.test. MX: found mail.elsewhere.test") {
		t.Fatalf("check with wrong records: exit %d\n%s", code, out)
	}
}
