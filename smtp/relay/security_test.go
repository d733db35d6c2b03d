package relay

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
)

// A receiver whose STARTTLS handshake fails gets the mail in plaintext
// at once, over a second connection to the same host, and the attempt
// says so.
func TestSTARTTLSFailureRetriedInPlaintext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, brokenTLS())
	e.sink.setScript("bob@remote.test", 450, 250)
	e.submit("broken tls", "bob@remote.test")
	e.start(e.options())
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v, want the deferral the sink's 450 asked for; log:\n%s", next, e.logs)
	}
	if got := e.dialer.dialed(); !slices.Equal(got, []string{"mx.remote.test:25", "mx.remote.test:25"}) {
		t.Errorf("dialed %v, want mx.remote.test twice (TLS, then plaintext)", got)
	}
	att := e.attempts()
	if len(att) != 1 {
		t.Fatalf("attempts %+v", att)
	}
	wantContains(t, "attempt's TLS", att[0].TLS, "none: STARTTLS failed", "retried in plaintext")
	wantContains(t, "attempt's reply", att[0].Reply, "450")
	e.clock.Set(t0.Add(time.Minute))
	if msg := e.waitMsg(); msg.tls {
		t.Error("delivered over TLS through a broken TLS stack?")
	}
	if next := e.waitIdle(); !next.IsZero() {
		t.Errorf("queue not empty, next %v", next)
	}
	wantContains(t, "log", e.logs.String(), "relay: STARTTLS handshake failed, retrying in plaintext", "relay: delivered")
}

// A session that did TLS records it in the attempt.
func TestAttemptRecordsTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testTLS(t))
	e.sink.setScript("bob@remote.test", 450)
	e.submit("tls", "bob@remote.test")
	e.start(e.options())
	e.waitIdle()
	att := e.attempts()
	if len(att) != 1 || !strings.HasPrefix(att[0].TLS, "TLS 1.") || !strings.Contains(att[0].TLS, "not checked (opportunistic)") {
		t.Errorf("attempts %+v", att)
	}
}

// smarthostEnv is an env whose mail goes to an authSink as
// smtp.provider.test:587, whose certificate the test CA signed.
func smarthostEnv(t *testing.T, implicit bool, pass string) (*env, *authSink, Options) {
	t.Helper()
	ca := newTestCA(t)
	e := newEnv(t, nil)
	a := startAuthSink(t, e.clock.Now, ca.ServerTLS(t, "smtp.provider.test"), implicit, "alice", "secret")
	e.sink = a.sink
	e.dialer.set("smtp.provider.test:587", a.addr)
	o := e.options()
	o.Smarthost = "smtp.provider.test:587"
	o.Security = Security{SmarthostUser: "alice", SmarthostPassword: pass, RootCAs: ca.Pool}
	if implicit {
		o.Security.SmarthostTLS = "implicit"
	}
	return e, a, o
}

func TestSmarthostLoginOverSTARTTLS(t *testing.T) {
	t.Parallel()
	for _, implicit := range []bool{false, true} {
		t.Run(map[bool]string{false: "starttls", true: "implicit"}[implicit], func(t *testing.T) {
			t.Parallel()
			e, a, o := smarthostEnv(t, implicit, "secret")
			e.submit("via smarthost", "bob@remote.test")
			e.start(o)
			msg := e.waitMsg()
			if !msg.tls || len(msg.rcpts) != 1 || msg.rcpts[0] != "bob@remote.test" {
				t.Errorf("smarthost got %+v", msg)
			}
			if got := a.tried(); !slices.Equal(got, []string{"PLAIN alice"}) {
				t.Errorf("logins %v", got)
			}
			if next := e.waitIdle(); !next.IsZero() {
				t.Errorf("queue not empty")
			}
			wantContains(t, "log", e.logs.String(), "certificate verified (smarthost)")
		})
	}
}

// A smarthost that offers only AUTH LOGIN gets LOGIN.
func TestSmarthostLoginMechanism(t *testing.T) {
	t.Parallel()
	e, a, o := smarthostEnv(t, false, "secret")
	a.offer(sasl.Login)
	e.submit("login", "bob@remote.test")
	e.start(o)
	e.waitMsg()
	if got := a.tried(); !slices.Equal(got, []string{"LOGIN alice"}) {
		t.Errorf("logins %v", got)
	}
}

// A wrong password (535) defers the mail with the smarthost's reply
// kept, on the normal retry schedule.
func TestSmarthostWrongPasswordDefers(t *testing.T) {
	t.Parallel()
	e, a, o := smarthostEnv(t, false, "wrong")
	e.submit("bad login", "bob@remote.test")
	e.start(o)
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v, want a deferral to the first retry; log:\n%s", next, e.logs)
	}
	q := e.queue()
	if len(q) != 1 || q[0].State != "queued" {
		t.Fatalf("queue %+v", q)
	}
	wantContains(t, "last reply", q[0].LastReply, "535 5.7.8", "refused the login")
	wantContains(t, "attempt TLS", e.attempts()[0].TLS, "certificate verified (smarthost)")
	att := e.attempts()
	if len(att) != 1 || !strings.Contains(att[0].Reply, "535 5.7.8 Authentication failed") || att[0].Remote != "smtp.provider.test" {
		t.Errorf("attempts %+v", att)
	}
	if got := a.tried(); len(got) != 1 {
		t.Errorf("%d logins, want 1 per attempt", len(got))
	}
	select {
	case m := <-e.sink.msgs:
		t.Errorf("smarthost got a message without login: %+v", m)
	default:
	}
	wantContains(t, "log", e.logs.String(), "relay: smarthost login failed", "relay: deferred")
}

// A refused login stops the job: its other messages wait for the next
// attempt instead of logging in again each (found in review: ten queued
// messages made ten failed logins in one round, a storm that gets an
// account locked).
func TestSmarthostWrongPasswordNoLoginStorm(t *testing.T) {
	t.Parallel()
	e, a, o := smarthostEnv(t, false, "wrong")
	for i := range 10 {
		e.submit(fmt.Sprintf("bad login %d", i), "bob@remote.test")
	}
	e.start(o)
	e.waitIdle()
	if got := len(a.tried()); got > 4 {
		t.Errorf("%d logins for 10 messages, want at most one per connection (per_domain 4)", got)
	}
	q := e.queue()
	if len(q) != 10 {
		t.Fatalf("%d items queued, want 10", len(q))
	}
	for _, it := range q {
		wantContains(t, "last reply", it.LastReply, "535 5.7.8")
	}
}

// A smarthost certificate that does not chain to a trusted root defers
// the mail; the password is never sent, and there is no plaintext retry.
func TestSmarthostUntrustedCertificateDefers(t *testing.T) {
	t.Parallel()
	e, a, o := smarthostEnv(t, false, "secret")
	o.Security.RootCAs = newTestCA(t).Pool // another CA
	e.submit("untrusted", "bob@remote.test")
	e.start(o)
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v, want a deferral", next)
	}
	if got := a.tried(); len(got) != 0 {
		t.Errorf("logins %v over an untrusted session", got)
	}
	if got := e.dialer.dialed(); len(got) != 1 {
		t.Errorf("dialed %v, want one connection (no plaintext retry)", got)
	}
	wantContains(t, "last reply", e.queue()[0].LastReply, "TLS handshake", "certificate")
}

// A smarthost without STARTTLS gets no password either.
func TestSmarthostWithoutTLSDefers(t *testing.T) {
	t.Parallel()
	e, a, o := smarthostEnv(t, false, "secret")
	plain := startAuthSink(t, e.clock.Now, nil, false, "alice", "secret")
	e.dialer.set("smtp.provider.test:587", plain.addr)
	e.submit("no tls", "bob@remote.test")
	e.start(o)
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v, want a deferral", next)
	}
	if got := append(a.tried(), plain.tried()...); len(got) != 0 {
		t.Errorf("logins %v without TLS", got)
	}
	wantContains(t, "last reply", e.queue()[0].LastReply, "STARTTLS not offered", "requires TLS")
}

// tlsVerified is set only when the certificate was verified under a
// policy that asks for it: REQUIRETLS relies on it.
func TestTLSVerifiedOnlyWhenVerified(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	e := newEnv(t, ca.ServerTLS(t, "mx.remote.test"))
	r := New(e.svc, e.options())
	ctx := context.Background()
	c, err := r.dial(ctx, &route{hosts: []string{"mx.remote.test"}, port: "25"}, "mx.remote.test")
	if err != nil {
		t.Fatal(err)
	}
	if !c.tls || c.tlsVerified {
		t.Errorf("opportunistic: tls %v, verified %v; want TLS, not verified", c.tls, c.tlsVerified)
	}
	c.close()

	o := e.options()
	o.Smarthost = net.JoinHostPort("mx.remote.test", "25")
	o.Security.RootCAs = ca.Pool
	r = New(e.svc, o)
	c, err = r.dial(ctx, &route{hosts: []string{"mx.remote.test"}, port: "25", smarthost: true}, "mx.remote.test")
	if err != nil {
		t.Fatal(err)
	}
	if !c.tls || !c.tlsVerified {
		t.Errorf("verified smarthost: tls %v, verified %v", c.tls, c.tlsVerified)
	}
	c.close()
}
