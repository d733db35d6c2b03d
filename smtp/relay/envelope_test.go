package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
	"pillarbox/store"
)

// extSink is a go-smtp server that may offer DSN and REQUIRETLS and
// records the parameters each transaction came with.
type extSink struct {
	addr string
	msgs chan extMsg
}

type extMsg struct {
	from  string
	mail  gosmtp.MailOptions
	rcpts []string
	opts  []gosmtp.RcptOptions
	data  string
}

type extSinkOptions struct {
	dsn, requireTLS bool
	tls             *tls.Config
	code            int // the reply to every RCPT; 0: 250
}

func startExtSink(t *testing.T, o extSinkOptions) *extSink {
	t.Helper()
	s := &extSink{msgs: make(chan extMsg, 10)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &extSession{s: s, code: o.code}, nil
	}))
	srv.Domain = "ext.test"
	srv.EnableDSN = o.dsn
	srv.EnableREQUIRETLS = o.requireTLS
	srv.TLSConfig = o.tls
	srv.ErrorLog = discardLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

type extSession struct {
	s    *extSink
	code int
	m    extMsg
}

func (x *extSession) Reset()        { x.m = extMsg{} }
func (x *extSession) Logout() error { return nil }
func (x *extSession) Mail(from string, o *gosmtp.MailOptions) error {
	x.m = extMsg{from: from, mail: *o}
	return nil
}

func (x *extSession) Rcpt(to string, o *gosmtp.RcptOptions) error {
	if x.code >= 400 {
		return &gosmtp.SMTPError{Code: x.code, EnhancedCode: gosmtp.EnhancedCode{x.code / 100, 1, 1}, Message: "No such user here"}
	}
	x.m.rcpts = append(x.m.rcpts, to)
	x.m.opts = append(x.m.opts, *o)
	return nil
}

func (x *extSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	x.m.data = string(b)
	x.s.msgs <- x.m
	return err
}

func (s *extSink) wait(t *testing.T) extMsg {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(waitLimit):
		t.Fatal("the sink got no message")
	}
	return extMsg{}
}

// newExtEnv is newEnv with an extSink as the MX of ext.test.
func newExtEnv(t *testing.T, o extSinkOptions) (*env, *extSink, Options) {
	t.Helper()
	e := newEnv(t, nil)
	x := startExtSink(t, o)
	e.dialer.set("mx.ext.test:25", x.addr)
	opts := e.options()
	opts.Resolver = fakeResolver{"remote.test": {{Host: "mx.remote.test.", Pref: 10}}, "ext.test": {{Host: "mx.ext.test.", Pref: 10}}}
	return e, x, opts
}

// submitParams queues a message from alice to rcpt with the given
// parameters.
func (e *env) submitParams(rcpt string, p mailbox.QueueParams) {
	e.t.Helper()
	a, err := mailbox.ParseAddress(rcpt)
	if err != nil {
		e.t.Fatal(err)
	}
	from, _ := mailbox.ParseAddress("alice@example.org")
	data := "Return-Path: <alice@example.org>\r\nFrom: Alice <alice@example.org>\r\nTo: " + rcpt +
		"\r\nSubject: params\r\nMessage-ID: <params@example.org>\r\n\r\nThe secret body.\r\n"
	_, err = e.svc.Submit(context.Background(), &mailbox.Submission{Account: e.alice, From: from,
		Remote: []mailbox.Address{a}, Data: []byte(data), RemoteParams: map[mailbox.Address]mailbox.QueueParams{a: p}})
	if err != nil {
		e.t.Fatal(err)
	}
}

// reportParts reads a notice into its parts: the delivery-status body
// and the third part's type and body.
func reportParts(t *testing.T, raw string) (status, thirdType, third string) {
	t.Helper()
	e, err := message.Read(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatalf("not multipart:\n%s", raw)
	}
	var types, bodies []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		typ, _, _ := p.Header.ContentType()
		b, _ := io.ReadAll(p.Body)
		types, bodies = append(types, typ), append(bodies, string(b))
	}
	if len(types) != 3 || types[1] != "message/delivery-status" {
		t.Fatalf("parts %v", types)
	}
	return bodies[1], types[2], bodies[2]
}

// A next hop that offers DSN gets RET, ENVID, NOTIFY and ORCPT as they
// were queued, and reports success itself: no notice from here.
func TestDSNParamsPassedOn(t *testing.T) {
	t.Parallel()
	e, x, opts := newExtEnv(t, extSinkOptions{dsn: true})
	e.submitParams("bob@ext.test", mailbox.QueueParams{Ret: "HDRS", EnvID: "QQ+314159", Notify: "SUCCESS,FAILURE",
		ORcpt: "rfc822;Bob.Old@ext.test"})
	e.start(opts)
	m := x.wait(t)
	if m.mail.Return != gosmtp.DSNReturnHeaders || m.mail.EnvelopeID != "QQ+314159" {
		t.Errorf("MAIL parameters %+v", m.mail)
	}
	if len(m.opts) != 1 || !slices.Equal(m.opts[0].Notify, []gosmtp.DSNNotify{"SUCCESS", "FAILURE"}) ||
		m.opts[0].OriginalRecipientType != "RFC822" || m.opts[0].OriginalRecipient != "Bob.Old@ext.test" {
		t.Errorf("RCPT parameters %+v", m.opts)
	}
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatal("still queued")
	}
	if n := len(e.inbox("alice@example.org")); n != 0 {
		t.Errorf("%d notices; the next hop offers DSN and reports itself", n)
	}
}

// Without an ORCPT, the recipient as queued goes as one (RFC 3461 4.2),
// and nothing is sent for parameters that were not given.
func TestDSNDefaultORCPT(t *testing.T) {
	t.Parallel()
	e, x, opts := newExtEnv(t, extSinkOptions{dsn: true})
	e.submitParams("carol@ext.test", mailbox.QueueParams{})
	e.start(opts)
	m := x.wait(t)
	if m.mail.Return != "" || m.mail.EnvelopeID != "" || m.mail.RequireTLS {
		t.Errorf("MAIL parameters %+v", m.mail)
	}
	if len(m.opts) != 1 || m.opts[0].Notify != nil || m.opts[0].OriginalRecipient != "carol@ext.test" {
		t.Errorf("RCPT parameters %+v", m.opts)
	}
}

// NOTIFY=SUCCESS to a next hop without DSN: the sink gets the message
// (no DSN parameters: it would refuse them), and the sender a "relayed"
// notice with ENVID and ORCPT in it.
func TestSuccessNoticeWithoutNextHopDSN(t *testing.T) {
	t.Parallel()
	e, x, opts := newExtEnv(t, extSinkOptions{})
	e.submitParams("bob@ext.test", mailbox.QueueParams{EnvID: "env-1", Notify: "SUCCESS", ORcpt: "rfc822;bob@old.test", Ret: "FULL"})
	e.start(opts)
	x.wait(t)
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatal("still queued")
	}
	inbox := e.inbox("alice@example.org")
	if len(inbox) != 1 {
		t.Fatalf("%d notices, want 1; log:\n%s", len(inbox), e.logs)
	}
	wantContains(t, "notice", inbox[0], "Subject: Successful Mail Delivery Report", "Return-Path: <>")
	status, typ, third := reportParts(t, inbox[0])
	wantContains(t, "delivery status", status, "Original-Envelope-Id: env-1\r\n", "Original-Recipient: rfc822; bob@old.test\r\n",
		"Final-Recipient: rfc822; bob@ext.test\r\n", "Action: relayed\r\n", "Status: 2.0.0\r\n")
	// RET=FULL is for failures (RFC 3461 4.3): a success shows the header.
	if typ != "text/rfc822-headers" || strings.Contains(third, "secret body") {
		t.Errorf("third part %s:\n%s", typ, third)
	}
	wantContains(t, "log", e.logs.String(), "kind=\"success notice\"")
}

// NOTIFY=NEVER: a permanent failure is not reported; the default
// (no NOTIFY) is, with the whole message under RET=FULL and only its
// header under RET=HDRS.
func TestNotifyAndRetOnFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		params   mailbox.QueueParams
		notices  int
		wantType string
	}{
		{"never", mailbox.QueueParams{Notify: "NEVER", Ret: "FULL"}, 0, ""},
		{"success only", mailbox.QueueParams{Notify: "SUCCESS"}, 0, ""},
		{"default, full", mailbox.QueueParams{Ret: "FULL", EnvID: "e-9"}, 1, "message/rfc822"},
		{"failure, headers", mailbox.QueueParams{Notify: "FAILURE", Ret: "HDRS"}, 1, "text/rfc822-headers"},
		{"default", mailbox.QueueParams{}, 1, "text/rfc822-headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _, opts := newExtEnv(t, extSinkOptions{code: 550})
			e.submitParams("bob@ext.test", tc.params)
			e.start(opts)
			if next := e.waitIdle(); !next.IsZero() {
				t.Fatal("still queued")
			}
			wantContains(t, "log", e.logs.String(), "relay: failed")
			inbox := e.inbox("alice@example.org")
			if len(inbox) != tc.notices {
				t.Fatalf("%d notices, want %d", len(inbox), tc.notices)
			}
			if tc.notices == 0 {
				return
			}
			status, typ, third := reportParts(t, inbox[0])
			wantContains(t, "delivery status", status, "Action: failed", "Status: 5.1.1")
			if typ != tc.wantType {
				t.Errorf("third part %s, want %s", typ, tc.wantType)
			}
			if full := strings.Contains(third, "The secret body."); full != (tc.wantType == "message/rfc822") {
				t.Errorf("body attached: %v, third part %s:\n%s", full, typ, third)
			}
			if tc.params.EnvID != "" {
				wantContains(t, "delivery status", status, "Original-Envelope-Id: "+tc.params.EnvID)
			}
		})
	}
}

// DELAY governs delay warnings: NOTIFY=FAILURE gets none, NOTIFY=DELAY
// and no NOTIFY get one.
func TestNotifyDelay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		notify string
		warned bool
	}{{"FAILURE", false}, {"DELAY", true}, {"", true}, {"NEVER", false}} {
		t.Run(tc.notify, func(t *testing.T) {
			t.Parallel()
			e, _, opts := newExtEnv(t, extSinkOptions{code: 451})
			opts.Schedule.DelayWarning = time.Minute
			e.submitParams("bob@ext.test", mailbox.QueueParams{Notify: tc.notify})
			e.start(opts)
			e.clock.Set(e.waitIdle()) // the second attempt, a minute on, warns
			e.waitIdle()
			inbox := e.inbox("alice@example.org")
			if got := len(inbox) == 1 && strings.Contains(inbox[0], "Action: delayed"); got != tc.warned || len(inbox) > 1 {
				t.Errorf("NOTIFY=%q: %d notices, want a warning: %v", tc.notify, len(inbox), tc.warned)
			}
		})
	}
}

// REQUIRETLS without verified TLS: no transaction at all, and a bounce
// with 5.7.10 (RFC 8689 5).
func TestRequireTLSWithoutVerifiedTLS(t *testing.T) {
	t.Parallel()
	e, x, opts := newExtEnv(t, extSinkOptions{requireTLS: true, tls: testTLS(t)})
	e.submitParams("bob@ext.test", mailbox.QueueParams{RequireTLS: true})
	e.start(opts)
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatal("still queued")
	}
	select {
	case m := <-x.msgs:
		t.Fatalf("the sink got the message: %+v", m)
	default:
	}
	inbox := e.inbox("alice@example.org")
	if len(inbox) != 1 {
		t.Fatalf("%d notices, want 1", len(inbox))
	}
	status, _, _ := reportParts(t, inbox[0])
	wantContains(t, "delivery status", status, "Action: failed", "Status: 5.7.10")
	// The attempt says how TLS was used, refusal or not.
	wantContains(t, "log", e.logs.String(), `msg="relay: failed"`, "tls=true", `tls_note="TLS 1.3`)
}

// REQUIRETLS over verified TLS: a host without REQUIRETLS gets nothing
// (5.7.30); one with it gets the message with REQUIRETLS.
func TestRequireTLSOverVerifiedTLS(t *testing.T) {
	t.Parallel()
	for _, offers := range []bool{false, true} {
		t.Run(map[bool]string{false: "not offered", true: "offered"}[offers], func(t *testing.T) {
			t.Parallel()
			// A smarthost whose certificate verifies against the test CA:
			// the session's TLS is verified, as REQUIRETLS asks.
			ca := newTestCA(t)
			e, x, opts := newExtEnv(t, extSinkOptions{requireTLS: offers, tls: ca.ServerTLS(t, "smtp.provider.test")})
			e.dialer.set("smtp.provider.test:587", x.addr)
			opts.Smarthost = "smtp.provider.test:587"
			opts.Security = Security{RootCAs: ca.Pool}
			e.submitParams("bob@ext.test", mailbox.QueueParams{RequireTLS: true})
			e.start(opts)
			if next := e.waitIdle(); !next.IsZero() {
				t.Fatal("still queued")
			}
			inbox := e.inbox("alice@example.org")
			if !offers {
				if len(inbox) != 1 {
					t.Fatalf("%d notices, want 1", len(inbox))
				}
				status, _, _ := reportParts(t, inbox[0])
				wantContains(t, "delivery status", status, "Status: 5.7.30")
				return
			}
			m := x.wait(t)
			if !m.mail.RequireTLS {
				t.Error("sent without REQUIRETLS")
			}
			if len(inbox) != 0 {
				t.Errorf("%d notices", len(inbox))
			}
		})
	}
}

// A notice about a REQUIRETLS message to a remote sender is queued with
// REQUIRETLS itself and NOTIFY=NEVER (RFC 8689 5, RFC 3461).
func TestNoticeForRemoteSenderKeepsRequireTLS(t *testing.T) {
	t.Parallel()
	e, _, opts := newExtEnv(t, extSinkOptions{})
	opts.PollInterval = -1
	enqueueRawParams(t, e, "zed@elsewhere.test", "bob@ext.test", mailbox.QueueParams{RequireTLS: true})
	e.start(opts)
	// The bounce for zed is queued; elsewhere.test has no MX here, so it
	// stays.
	var bounce mailbox.QueueItem
	for range 100 {
		e.waitIdle()
		q := e.queue()
		if len(q) == 1 && q[0].Recipient == "zed@elsewhere.test" {
			bounce = q[0]
			break
		}
	}
	if bounce.ID == 0 {
		t.Fatalf("no bounce queued: %+v; log:\n%s", e.queue(), e.logs)
	}
	if bounce.Sender != "" || !bounce.Params.RequireTLS || bounce.Params.Notify != "NEVER" {
		t.Errorf("bounce %+v", bounce)
	}
	data, err := e.svc.QueueMessage(context.Background(), bounce)
	if err != nil || !bytes.Contains(data, []byte("Status: 5.7.10")) {
		t.Errorf("bounce data %v:\n%s", err, data)
	}
}

// enqueueRawParams queues a message with any sender and parameters.
func enqueueRawParams(t *testing.T, e *env, sender, rcpt string, p mailbox.QueueParams) {
	t.Helper()
	data := []byte("From: <" + sender + ">\r\nSubject: raw\r\nMessage-ID: <raw@test>\r\n\r\nbody\r\n")
	a, _ := mailbox.ParseAddress(rcpt)
	err := e.db.Write(context.Background(), func(tx store.Tx) error {
		id, err := tx.InsertBlob(&store.Blob{Data: data, Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		_, err = tx.Enqueue(store.NewQueueItem{BlobID: id, Sender: sender, Recipient: a.String(), Domain: a.Domain,
			Created: t0, NextAttempt: t0, Params: p})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// What goes out on RCPT for what was queued: values go-smtp's client
// would refuse (and so break the connection over) are left out.
func TestRcptOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rcpt, notify, orcpt string
		wantNotify          []gosmtp.DSNNotify
		wantType, wantAddr  string
	}{
		{"bob@x.test", "", "", nil, "RFC822", "bob@x.test"},
		{"bob@x.test", "SUCCESS,DELAY", "rfc822;Bob@old.test", []gosmtp.DSNNotify{"SUCCESS", "DELAY"}, "RFC822", "Bob@old.test"},
		{"bob@x.test", "NEVER", "utf-8;bøb@x.test", []gosmtp.DSNNotify{"NEVER"}, "UTF-8", "bøb@x.test"},
		// An ORCPT that came but cannot go on is left out, not replaced
		// (RFC 3461 4.2 adds one only where none came).
		{"bob@x.test", "NEVER,SUCCESS", "x400;whatever", nil, "", ""},
		{"bob@x.test", "SOMETIMES", "rfc822;b\x01b@x.test", nil, "", ""},
		{"bøb@x.test", "FAILURE,FAILURE", "", nil, "", ""},
	} {
		o := rcptOptions(mailbox.QueueItem{Recipient: tc.rcpt, Params: mailbox.QueueParams{Notify: tc.notify, ORcpt: tc.orcpt}})
		if !slices.Equal(o.Notify, tc.wantNotify) || string(o.OriginalRecipientType) != tc.wantType || o.OriginalRecipient != tc.wantAddr {
			t.Errorf("%s NOTIFY=%q ORCPT=%q: got %v %s;%s, want %v %s;%s", tc.rcpt, tc.notify, tc.orcpt,
				o.Notify, o.OriginalRecipientType, o.OriginalRecipient, tc.wantNotify, tc.wantType, tc.wantAddr)
		}
	}
	g := &group{items: []mailbox.QueueItem{{Sender: "a@x.test", Recipient: "b@y.test",
		Params: mailbox.QueueParams{Ret: "BODY", EnvID: "bad\r\nid", RequireTLS: true}}}}
	if env := groupEnvelope(g); env.mail.Return != "" || env.mail.EnvelopeID != "" || !env.mail.RequireTLS {
		t.Errorf("MAIL options %+v", env.mail)
	}
}

// A notice (null sender) about a REQUIRETLS message asks for REQUIRETLS
// too, but when no host qualifies it goes without rather than being
// dropped (RFC 8689 5); before, it bounced to nobody and was lost.
func TestRequireTLSNoticeNotDropped(t *testing.T) {
	t.Parallel()
	e, x, opts := newExtEnv(t, extSinkOptions{tls: testTLS(t), dsn: true})
	enqueueRawParams(t, e, "", "bob@ext.test", mailbox.QueueParams{RequireTLS: true, Notify: "NEVER"})
	e.start(opts)
	e.waitIdle()
	select {
	case m := <-x.msgs:
		if m.mail.RequireTLS {
			t.Errorf("sent with REQUIRETLS to a host that cannot honour it")
		}
	default:
		t.Fatalf("the notice was not delivered:\n%s", e.logs)
	}
}

// RET=FULL is ignored for a REQUIRETLS message: its bounce carries the
// header only (RFC 8689 5), since the bounce may travel without TLS.
func TestRequireTLSBounceHeadersOnly(t *testing.T) {
	t.Parallel()
	e, _, opts := newExtEnv(t, extSinkOptions{tls: testTLS(t)})
	e.submitParams("bob@ext.test", mailbox.QueueParams{RequireTLS: true, Ret: "FULL"})
	e.start(opts)
	e.waitIdle()
	inbox := e.inbox("alice@example.org")
	if len(inbox) != 1 {
		t.Fatalf("%d notices, want one bounce", len(inbox))
	}
	if _, typ, _ := reportParts(t, inbox[0]); typ != "text/rfc822-headers" {
		t.Fatalf("the bounce of a REQUIRETLS message attaches %s, want text/rfc822-headers", typ)
	}
}
