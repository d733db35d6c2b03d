package relay

import (
	"slices"
	"strings"
	"testing"
	"time"

	"pillarbox/smtp/msgauth/dnstest"
	"pillarbox/smtp/relay/dane"
	"pillarbox/smtp/relay/internal/testca"
)

const enforcePolicy = "version: STSv1\nmode: enforce\nmx: mx.remote.test\nmax_age: 86400\n"

// newSTSEnv gives remote.test an MTA-STS policy with body, served over
// HTTPS on loopback with a certificate from ca, and returns e's options
// with that policy lookup, trusting ca.
func newSTSEnv(t *testing.T, ca *testca.CA, e *env, body string) Options {
	t.Helper()
	dns := dnstest.Start(t)
	dns.SetTXT("_mta-sts.remote.test", "v=STSv1; id=20261124")
	ps := startPolicyServer(t, ca, body)
	o := e.options()
	o.Security = Security{MTASTS: ps.policies(e, dns, ca), RootCAs: ca.Pool}
	return o
}

// Under an enforce policy, a certificate valid for the MX name gives a
// verified session, and an MX host the policy does not name is never
// tried, even when preferred.
func TestMTASTSEnforceUsesOnlyPolicyHosts(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	e := newEnv(t, ca.ServerTLS(t, "mx.remote.test"))
	rogue := startSink(t, e.clock.Now, nil)
	e.dialer.set("mx.rogue.test:25", rogue.addr)
	o := newSTSEnv(t, ca, e, enforcePolicy)
	o.Resolver = fakeResolver{"remote.test": {{Host: "mx.rogue.test.", Pref: 5}, {Host: "mx.remote.test.", Pref: 10}}}
	e.submit("sts", "bob@remote.test")
	e.start(o)
	if msg := e.waitMsg(); !msg.tls {
		t.Error("delivered without TLS under enforce")
	}
	if next := e.waitIdle(); !next.IsZero() {
		t.Errorf("queue not empty")
	}
	if got := e.dialer.dialed(); !slices.Equal(got, []string{"mx.remote.test:25"}) {
		t.Errorf("dialed %v, want only the host the policy names", got)
	}
	wantContains(t, "log", e.logs.String(), "not named by the MTA-STS policy", "certificate verified (MTA-STS policy of remote.test)")
}

// Under enforce, a failed STARTTLS handshake is a deferral, never a
// plaintext retry.
func TestMTASTSEnforceNoPlaintextFallback(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	e := newEnv(t, brokenTLS())
	o := newSTSEnv(t, ca, e, enforcePolicy)
	e.submit("sts broken", "bob@remote.test")
	e.start(o)
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v, want a deferral; log:\n%s", next, e.logs)
	}
	if got := e.dialer.dialed(); len(got) != 1 {
		t.Errorf("dialed %v, want one connection", got)
	}
	wantContains(t, "last reply", e.queue()[0].LastReply, "TLS handshake")
	select {
	case m := <-e.sink.msgs:
		t.Errorf("delivered %+v", m)
	default:
	}
}

// Under enforce, a certificate that is not valid for the MX name (here
// self-signed) defers; so does a policy that names no MX host.
func TestMTASTSEnforceBadCertificateOrNoHost(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	e := newEnv(t, testTLS(t))
	o := newSTSEnv(t, ca, e, enforcePolicy)
	e.submit("self-signed", "bob@remote.test")
	e.start(o)
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v, want a deferral", next)
	}
	wantContains(t, "last reply", e.queue()[0].LastReply, "certificate")

	e2 := newEnv(t, ca.ServerTLS(t, "mx.remote.test"))
	o2 := newSTSEnv(t, ca, e2, strings.Replace(enforcePolicy, "mx.remote.test", "mx.elsewhere.test", 1))
	e2.submit("no host", "bob@remote.test")
	e2.start(o2)
	if next := e2.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v, want a deferral", next)
	}
	wantContains(t, "last reply", e2.queue()[0].LastReply, "named by its MTA-STS policy")
	if got := e2.dialer.dialed(); len(got) != 0 {
		t.Errorf("dialed %v", got)
	}
}

// In mode testing a failed check is logged and counted, and the mail is
// delivered anyway, falling back to plaintext if it must.
func TestMTASTSTestingLogsAndDelivers(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	testingPolicy := strings.Replace(enforcePolicy, "enforce", "testing", 1)
	e := newEnv(t, testTLS(t)) // self-signed: the check fails
	o := newSTSEnv(t, ca, e, testingPolicy)
	e.submit("testing", "bob@remote.test")
	e.start(o)
	if msg := e.waitMsg(); !msg.tls {
		t.Error("not delivered over TLS")
	}
	e.waitIdle()
	wantContains(t, "log", e.logs.String(), "MTA-STS check failed (policy in mode testing: delivering anyway)", "relay: delivered")
	if n := e.runner.MTASTSTestingFailures(); n != 1 {
		t.Errorf("%d failures counted, want 1", n)
	}

	e2 := newEnv(t, brokenTLS())
	o2 := newSTSEnv(t, ca, e2, testingPolicy)
	e2.submit("testing broken", "bob@remote.test")
	e2.start(o2)
	if msg := e2.waitMsg(); msg.tls {
		t.Error("TLS through a broken stack?")
	}
	e2.waitIdle()
	if n := e2.runner.MTASTSTestingFailures(); n != 1 {
		t.Errorf("%d failures counted, want 1", n)
	}
}

// newDANEEnv makes remote.test and mx.remote.test DNSSEC-signed at a
// loopback validating resolver, with a "3 1 1" TLSA record of data tlsa
// for the MX host, and returns e's options with DANE on.
func newDANEEnv(t *testing.T, e *env, tlsa []byte) Options {
	t.Helper()
	dns := dnstest.Start(t)
	dns.SetMX("remote.test", "mx.remote.test")
	dns.SetA("mx.remote.test", "127.0.0.1")
	dns.SetTLSA("_25._tcp.mx.remote.test", dnstest.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: tlsa})
	dns.Secure("remote.test", "mx.remote.test", "_25._tcp.mx.remote.test")
	res, err := dane.New(dane.Options{Addr: dns.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	o := e.options()
	o.Resolver = nil // DANE's resolver answers the MX lookup
	o.Security = Security{DANE: res}
	return o
}

func TestDANEMatchDelivers(t *testing.T) {
	t.Parallel()
	cfg := testTLS(t) // self-signed: DANE-EE needs no CA
	e := newEnv(t, cfg)
	o := newDANEEnv(t, e, spkiSHA256(t, cfg))
	e.submit("dane", "bob@remote.test")
	e.start(o)
	if msg := e.waitMsg(); !msg.tls {
		t.Error("not over TLS")
	}
	if next := e.waitIdle(); !next.IsZero() {
		t.Error("queue not empty")
	}
	wantContains(t, "log", e.logs.String(), "certificate verified (DANE)")
}

func TestDANEMismatchDefers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testTLS(t))
	o := newDANEEnv(t, e, spkiSHA256(t, testTLS(t))) // another key
	e.submit("dane mismatch", "bob@remote.test")
	e.start(o)
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v, want a deferral; log:\n%s", next, e.logs)
	}
	wantContains(t, "last reply", e.queue()[0].LastReply, "matches no TLSA record")
	if got := e.dialer.dialed(); len(got) != 1 {
		t.Errorf("dialed %v, want one connection (no plaintext retry)", got)
	}
}

// Without a TLS offer a DANE host is not used: no plaintext.
func TestDANENoSTARTTLSDefers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := newDANEEnv(t, e, spkiSHA256(t, testTLS(t)))
	e.submit("dane plain", "bob@remote.test")
	e.start(o)
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v, want a deferral", next)
	}
	wantContains(t, "last reply", e.queue()[0].LastReply, "STARTTLS not offered", "requires TLS")
}

// TLSA records the resolver did not authenticate (no AD bit) are
// ignored (RFC 7672 2.2): delivery is opportunistic, and a TLSA record
// that does not match stops nothing.
func TestDANEInsecureRecordsIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testTLS(t))
	dns := dnstest.Start(t)
	dns.SetMX("remote.test", "mx.remote.test")
	dns.SetA("mx.remote.test", "127.0.0.1")
	dns.SetTLSA("_25._tcp.mx.remote.test", dnstest.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: spkiSHA256(t, testTLS(t))})
	res, err := dane.New(dane.Options{Addr: dns.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	o := e.options()
	o.Resolver = nil
	o.Security = Security{DANE: res}
	e.submit("dane insecure", "bob@remote.test")
	e.start(o)
	if msg := e.waitMsg(); !msg.tls {
		t.Error("not over TLS")
	}
	e.waitIdle()
	wantContains(t, "log", e.logs.String(), "certificate not checked (opportunistic)")
}

// DANE records that exist but are all unusable (PKIX-EE, usage 1, which
// SMTP must not use) ask for TLS without a certificate check; under an
// MTA-STS enforce policy the certificate must still be valid for the MX
// name. A self-signed certificate is a deferral, not a delivery. Found
// in review: the unusable records used to win.
func TestDANEUnusableKeepsMTASTSEnforce(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	bad := testTLS(t) // self-signed, not from ca
	e := newEnv(t, bad)
	dns := dnstest.Start(t)
	dns.SetMX("remote.test", "mx.remote.test")
	dns.SetA("mx.remote.test", "127.0.0.1")
	dns.SetTLSA("_25._tcp.mx.remote.test", dnstest.TLSA{Usage: 1, Selector: 1, MatchingType: 1, Data: spkiSHA256(t, bad)})
	dns.Secure("remote.test", "mx.remote.test", "_25._tcp.mx.remote.test")
	dns.SetTXT("_mta-sts.remote.test", "v=STSv1; id=20261124")
	res, err := dane.New(dane.Options{Addr: dns.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	ps := startPolicyServer(t, ca, enforcePolicy)
	o := e.options()
	o.Resolver = nil
	o.Security = Security{DANE: res, MTASTS: ps.policies(e, dns, ca), RootCAs: ca.Pool}
	e.submit("enforce", "bob@remote.test")
	e.start(o)
	e.waitIdle()
	select {
	case m := <-e.sink.msgs:
		t.Fatalf("delivered (tls=%v) to a certificate the enforce policy refuses", m.tls)
	default:
	}
	if q := e.queue(); len(q) != 1 || q[0].Attempts != 1 {
		t.Fatalf("queue %+v, want the message deferred after one attempt", q)
	}
}
