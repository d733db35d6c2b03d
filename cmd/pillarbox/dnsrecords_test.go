package main

import (
	"strings"
	"testing"
)

func TestMailRecords(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Hostname = "mx.example.org"
	cfg.Submission.Listen = "0.0.0.0:587"
	cfg.Submission.ListenTLS = ""
	cfg.IMAP.Listen = "[::]:143"
	cfg.IMAP.ListenTLS = "[::]:993"
	cfg.DNS.SPFAll = "-all"
	key := strings.Repeat("A", 400)
	dkim := []dnsRecord{{Name: "pbr._domainkey.example.org.", Type: "TXT", Value: "v=DKIM1; k=rsa; p=" + key, Required: true}}
	var b strings.Builder
	writeZone(&b, cfg, "example.org", mailRecords(cfg, "example.org", dkim))
	zone := b.String()
	for _, want := range []string{
		"example.org. IN MX 10 mx.example.org.\n",
		`example.org. IN TXT "v=spf1 mx -all"` + "\n",
		`pbr._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=` + strings.Repeat("A", 255-len("v=DKIM1; k=rsa; p=")) + `" "`,
		`_dmarc.example.org. IN TXT "v=DMARC1; p=reject; adkim=r; aspf=r; rua=mailto:postmaster@example.org"` + "\n",
		`_mta-sts.example.org. IN TXT "v=STSv1; id=pb`,
		`_smtp._tls.example.org. IN TXT "v=TLSRPTv1; rua=mailto:postmaster@example.org"` + "\n",
		"_submission._tcp.example.org. IN SRV 0 1 587 mx.example.org.\n",
		"_submissions._tcp.example.org. IN SRV 0 0 0 .\n", // not offered
		"_imap._tcp.example.org. IN SRV 0 1 143 mx.example.org.\n",
		"_imaps._tcp.example.org. IN SRV 0 1 993 mx.example.org.\n",
		";   mode: enforce\n",
		";   mx: mx.example.org\n",
		";   max_age: 604800\n",
		"needs a PTR record naming mx.example.org",
	} {
		if !strings.Contains(zone, want) {
			t.Errorf("zone lacks %q:\n%s", want, zone)
		}
	}
	// Every TXT string fits in 255 bytes.
	for _, l := range strings.Split(zone, "\n") {
		for _, s := range strings.Split(l, `"`)[1:] {
			if len(s) > 255 {
				t.Errorf("a TXT string of %d bytes: %s", len(s), l)
			}
		}
	}
}
