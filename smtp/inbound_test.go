package smtp

import (
	"context"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/smtp/msgauth"
	"pillarbox/smtp/msgauth/dnstest"
)

// startCheckingMX runs an MX that verifies every message against a DNS
// server of the test's own, with both inbound policies on.
func startCheckingMX(t *testing.T) (*testEnv, *dnstest.Server) {
	t.Helper()
	dns := dnstest.Start(t)
	v := msgauth.NewVerifier(msgauth.VerifierOptions{Resolver: dns.Resolver(), Hostname: "mx.example.org",
		Timeout: 2 * time.Second, Sample: func() int { return 0 }})
	e := startMX(t, envOptions{opts: Options{Inbound: Inbound{Verifier: v, DMARCReject: true, RefuseLocalSpoof: true}}})
	return e, dns
}

func folderCount(t *testing.T, e *testEnv, user, folder string) int {
	t.Helper()
	n, err := e.svc.Count(context.Background(), user, folder)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMXVerifiesSenders drives the MX's checks through go-smtp's client,
// with SPF and DMARC records served on loopback: the verdict is one
// Authentication-Results header on top, DMARC p=reject refuses, p=
// quarantine files in Junk, mail claiming a local domain without
// authentication is refused, and a DNS failure never refuses.
func TestMXVerifiesSenders(t *testing.T) {
	t.Parallel()
	e, dns := startCheckingMX(t)
	// The test client connects from 127.0.0.1.
	dns.SetTXT("good.test", "v=spf1 ip4:127.0.0.1 -all")
	dns.SetTXT("_dmarc.good.test", "v=DMARC1; p=reject")
	dns.SetTXT("bank.test", "v=spf1 ip4:192.0.2.1 -all")
	dns.SetTXT("_dmarc.bank.test", "v=DMARC1; p=reject")
	dns.SetTXT("shop.test", "v=spf1 -all")
	dns.SetTXT("_dmarc.shop.test", "v=DMARC1; p=quarantine")
	dns.ServFail("flaky.test")
	dns.ServFail("_dmarc.flaky.test")

	msg := func(from, subject string) string {
		return "From: <" + from + ">\r\nTo: bob@example.org\r\nSubject: " + subject + "\r\n" +
			"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=forged.test\r\n" +
			"Authentication-Results: other.example; spf=pass\r\n\r\nbody\r\n"
	}
	for _, c := range []struct {
		name, from, subject string
		code                int  // 0: accepted
		junk                bool // filed in Junk
		header              string
	}{
		{name: "pass", from: "alice@good.test", subject: "good", header: "spf=pass"},
		{name: "dmarc reject", from: "ceo@bank.test", subject: "forged bank", code: 550},
		{name: "dmarc quarantine", from: "deals@shop.test", subject: "shop", junk: true, header: "dmarc=fail"},
		{name: "local spoof", from: "postmaster@example.org", subject: "spoof", code: 550},
		{name: "dns failure", from: "x@flaky.test", subject: "flaky", header: "spf=temperror"},
	} {
		inbox, junk := folderCount(t, e, "bob@example.org", "INBOX"), folderCount(t, e, "bob@example.org", "Junk")
		c2 := dial(t, e.addr)
		err := send(c2, c.from, []string{"bob@example.org"}, msg(c.from, c.subject))
		c2.Close()
		if c.code != 0 {
			wantCode(t, err, c.code, gosmtp.EnhancedCode{5, 7, 1})
			if n := folderCount(t, e, "bob@example.org", "INBOX") + folderCount(t, e, "bob@example.org", "Junk"); n != inbox+junk {
				t.Errorf("%s: refused, but stored", c.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		gotJunk := folderCount(t, e, "bob@example.org", "Junk") > junk
		if gotJunk != c.junk {
			t.Errorf("%s: filed in Junk %v, want %v", c.name, gotJunk, c.junk)
		}
		if c.junk {
			continue
		}
		stored := lastMessage(t, e, "bob@example.org")
		head := stored[:strings.Index(stored, "\r\n\r\n")]
		if !strings.HasPrefix(stored, "Return-Path: <"+c.from+">\r\nAuthentication-Results: mx.example.org;") {
			t.Errorf("%s: stored message starts %q", c.name, stored[:min(len(stored), 120)])
		}
		if !strings.Contains(head, c.header) {
			t.Errorf("%s: no %q in the header:\n%s", c.name, c.header, head)
		}
		if strings.Contains(head, "forged.test") || !strings.Contains(head, "other.example; spf=pass") {
			t.Errorf("%s: incoming Authentication-Results claiming our name kept, or another's removed:\n%s", c.name, head)
		}
		if strings.Count(head, "Authentication-Results: mx.example.org") != 1 {
			t.Errorf("%s: want exactly one Authentication-Results of ours:\n%s", c.name, head)
		}
	}
}
