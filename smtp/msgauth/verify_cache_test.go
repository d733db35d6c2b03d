package msgauth

import (
	"context"
	"net"
	"testing"
	"time"

	"pillarbox/smtp/msgauth/dnstest"
)

// TestVerifyCache: a second message from the same sender asks DNS
// nothing; after the TTL it asks again; a temporary failure is not kept.
func TestVerifyCache(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t)
	dns.SetTXT("cached.test", "v=spf1 ip4:192.0.2.1 -all")
	dns.SetTXT("_dmarc.cached.test", "v=DMARC1; p=none")
	dns.ServFail("flaky.test")
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	v := NewVerifier(VerifierOptions{Resolver: dns.Resolver(), Hostname: "mx.example.org", Timeout: 2 * time.Second,
		Now: func() time.Time { return now }})
	msg := []byte("From: a@cached.test\r\nSubject: x\r\n\r\nbody\r\n")
	ip := net.ParseIP("192.0.2.1")
	ctx := context.Background()

	first := v.Verify(ctx, ip, "helo.test", "a@cached.test", msg)
	asked := dns.Queries()
	second := v.Verify(ctx, ip, "helo.test", "a@cached.test", msg)
	if second.SPF.Result != SPFPass || first.SPF.Result != SPFPass {
		t.Fatalf("spf %v then %v, want pass", first.SPF.Result, second.SPF.Result)
	}
	if n := dns.Queries() - asked; n != 0 {
		t.Errorf("the second message asked DNS %d times", n)
	}
	now = now.Add(2 * time.Minute)
	v.Verify(ctx, ip, "helo.test", "a@cached.test", msg)
	if dns.Queries() == asked {
		t.Errorf("answers kept past their TTL")
	}

	flaky := []byte("From: a@flaky.test\r\nSubject: x\r\n\r\nbody\r\n")
	v.Verify(ctx, ip, "helo.test", "a@flaky.test", flaky)
	asked = dns.Queries()
	if r := v.Verify(ctx, ip, "helo.test", "a@flaky.test", flaky); r.SPF.Result != SPFTempError {
		t.Fatalf("spf %v, want temperror", r.SPF.Result)
	}
	if dns.Queries() == asked {
		t.Errorf("a temporary failure was kept")
	}
}
