package relay

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"pillarbox/mailbox"
	"pillarbox/smtp/msgauth"
)

// publishKeys adds domain to the database, which makes its DKIM keys, and
// returns a TXT lookup that answers with their published records, as DNS
// would once the operator published them.
func publishKeys(t *testing.T, svc *mailbox.Service, domain string) func(string) ([]string, error) {
	t.Helper()
	if _, err := svc.AddDomain(context.Background(), domain); err != nil {
		t.Fatal(err)
	}
	doms, err := svc.Domains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	records := map[string]string{}
	for _, d := range doms {
		for _, k := range d.Keys {
			rec, err := msgauth.KeyRecord(k.Public())
			if err != nil {
				t.Fatal(err)
			}
			records[k.Selector+"._domainkey."+d.Name] = rec
		}
	}
	return func(name string) ([]string, error) {
		if r, ok := records[name]; ok {
			return []string{r}, nil
		}
		return nil, fmt.Errorf("no TXT record at %s", name)
	}
}

// verifyBoth checks that data carries exactly two DKIM signatures of
// domain, one RSA and one Ed25519, and that both verify.
func verifyBoth(t *testing.T, what, data, domain string, lookup func(string) ([]string, error)) {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(strings.NewReader(data), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(vs) != 2 {
		t.Fatalf("%s: %d signatures, want 2:\n%s", what, len(vs), data)
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != domain {
			t.Errorf("%s: signature d=%s: %v", what, v.Domain, v.Err)
		}
	}
	for _, a := range []string{"a=rsa-sha256", "a=ed25519-sha256"} {
		if strings.Count(data, a) != 1 {
			t.Errorf("%s: %d signatures with %s", what, strings.Count(data, a), a)
		}
	}
}

// Mail relayed for a local domain with keys leaves with two signatures
// that verify against the published records; Return-Path, which the relay
// removes, is not under them.
func TestRelaySignsLocalSender(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	lookup := publishKeys(t, e.svc, "example.org")
	e.submit("signed", "bob@remote.test", "carol@remote.test")
	e.start(e.options())
	msg := e.waitMsg()
	if !slices.Equal(msg.rcpts, []string{"bob@remote.test", "carol@remote.test"}) {
		t.Fatalf("recipients %v", msg.rcpts)
	}
	verifyBoth(t, "relayed message", msg.data, "example.org", lookup)
	if !strings.HasPrefix(msg.data, "DKIM-Signature:") || strings.Contains(msg.data, "Return-Path") {
		t.Errorf("relayed data:\n%s", msg.data)
	}
	// Once per message: one transaction, two signatures in all (counted
	// by verifyBoth), whatever the number of recipients.
	if n := strings.Count(msg.data, "DKIM-Signature:"); n != 2 {
		t.Errorf("%d DKIM-Signature fields", n)
	}
}

// A bounce Pillarbox sends to a remote sender (null sender, From
// MAILER-DAEMON@relay.example.org) is signed for example.org, the local
// domain above the hostname.
func TestRelaySignsBounce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	lookup := publishKeys(t, e.svc, "example.org")
	o := e.options()
	o.Resolver = fakeResolver{"remote.test": {{Host: "mx.remote.test.", Pref: 10}}, "elsewhere.test": {{Host: "mx.elsewhere.test", Pref: 10}}}
	e.dialer.set("mx.elsewhere.test:25", e.sink.addr)
	e.sink.setScript("bob@remote.test", 550)
	enqueueRaw(t, e, "zed@elsewhere.test", "bob@remote.test")
	e.start(o)
	msg := e.waitMsg()
	if msg.from != "" || !slices.Equal(msg.rcpts, []string{"zed@elsewhere.test"}) {
		t.Fatalf("bounce from <%s> to %v", msg.from, msg.rcpts)
	}
	wantContains(t, "bounce", msg.data, "From: Mail Delivery System <MAILER-DAEMON@relay.example.org>", "Final-Recipient: rfc822; bob@remote.test")
	verifyBoth(t, "bounce", msg.data, "example.org", lookup)
}

// On a shared host whose name is outside the domains it serves, a notice
// comes from MAILER-DAEMON@ the primary domain and is signed for it, so
// that DMARC finds the signature aligned with the From.
func TestRelaySignsBounceForPrimaryDomain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	lookup := publishKeys(t, e.svc, "example.org")
	o := e.options()
	o.Hostname = "mail.hoster.test"
	o.PrimaryDomain = "Example.ORG"
	o.Resolver = fakeResolver{"remote.test": {{Host: "mx.remote.test.", Pref: 10}}, "elsewhere.test": {{Host: "mx.elsewhere.test", Pref: 10}}}
	e.dialer.set("mx.elsewhere.test:25", e.sink.addr)
	e.sink.setScript("bob@remote.test", 550)
	enqueueRaw(t, e, "zed@elsewhere.test", "bob@remote.test")
	e.start(o)
	msg := e.waitMsg()
	wantContains(t, "bounce", msg.data, "From: Mail Delivery System <MAILER-DAEMON@example.org>", "Reporting-MTA: dns; mail.hoster.test")
	verifyBoth(t, "bounce", msg.data, "example.org", lookup)
}

// A sender domain that is not local, or local without keys (a config
// domain serve has not added yet), is sent unsigned; so is a bounce when
// no domain above the hostname has keys.
func TestRelayLeavesUnsignedWithoutKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.submit("unsigned", "bob@remote.test")
	enqueueRaw(t, e, "zed@elsewhere.test", "bob@remote.test")
	e.start(e.options())
	for range 2 {
		if m := e.waitMsg(); strings.Contains(m.data, "DKIM-Signature") {
			t.Errorf("signed without keys:\n%s", m.data)
		}
	}
}

// A domain the CLI adds in another process while the relay runs signs
// the next message: the keys are not cached past a change of domains.
func TestRelayUsesKeysAddedByAnotherProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start(e.options())
	e.submit("before", "bob@remote.test")
	e.runner.Kick()
	if m := e.waitMsg(); strings.Contains(m.data, "DKIM-Signature") {
		t.Fatal("signed before the domain had keys")
	}
	cli, err := mailbox.New(e.db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	lookup := publishKeys(t, cli, "example.org")
	e.submit("after", "bob@remote.test")
	e.runner.Kick()
	verifyBoth(t, "after the domain was added", e.waitMsg().data, "example.org", lookup)
}
