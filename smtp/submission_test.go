package smtp

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/storetest"
)

// subEnv is a submission server on loopback over a fresh store with
// users alice and bob @example.org and alias team → alice, bob.
type subEnv struct {
	addr     string
	tlsAddr  string // implicit TLS
	svc      *mailbox.Service
	db       store.Store
	throttle *mailbox.Throttle
	log      *subLog
	servers  []*Server // plain and implicit TLS
	metrics  *countMetrics
}

type subLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *subLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *subLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var subNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func startSubmission(t *testing.T, maxBytes int64) *subEnv {
	t.Helper()
	return startSubmissionWith(t, maxBytes, mailbox.NewThrottle(mailbox.ThrottleOptions{Base: time.Millisecond, Max: 2 * time.Millisecond}))
}

// startSubmissionWith starts the servers with the login throttle th.
func startSubmissionWith(t *testing.T, maxBytes int64, th *mailbox.Throttle) *subEnv {
	t.Helper()
	db := storetest.Open(t, pg)
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if err := svc.AddUser(ctx, u+"@example.org", u+"-pw"); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.SetAlias(ctx, "team@example.org", []string{"alice@example.org", "bob@example.org"}); err != nil {
		t.Fatal(err)
	}
	e := &subEnv{svc: svc, db: db, log: &subLog{}, throttle: th, metrics: &countMetrics{}}
	tlsConf := testTLSConfig(t, "mail.example.org")
	opts := SubmissionOptions{
		Options: Options{
			Hostname:        "mail.example.org",
			MaxMessageBytes: maxBytes,
			MaxRecipients:   4,
			TLS:             tlsConf,
			Logger:          slog.New(slog.NewTextHandler(e.log, nil)),
			Now:             func() time.Time { return subNow },
			Metrics:         e.metrics,
		},
		Throttle: e.throttle,
	}
	for _, implicit := range []bool{false, true} {
		srv := NewSubmission(svc, opts)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if implicit {
			e.tlsAddr = ln.Addr().String()
			ln = tls.NewListener(ln, tlsConf)
		} else {
			e.addr = ln.Addr().String()
		}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		e.servers = append(e.servers, srv)
	}
	return e
}

func subLogin(t *testing.T, addr, user, pw string) *gosmtp.Client {
	t.Helper()
	c := dial(t, addr)
	if err := c.Auth(sasl.NewPlainClient("", user, pw)); err != nil {
		t.Fatalf("AUTH PLAIN %s: %v", user, err)
	}
	return c
}

func subWantCode(t *testing.T, what string, err error, code int, enhanced gosmtp.EnhancedCode) {
	t.Helper()
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got %v, want %d %v", what, err, code, enhanced)
	}
	if se.Code != code || se.EnhancedCode != enhanced {
		t.Fatalf("%s: got %d %v %q, want %d %v", what, se.Code, se.EnhancedCode, se.Message, code, enhanced)
	}
}

func (e *subEnv) inbox(t *testing.T, user string) []string {
	t.Helper()
	ctx := context.Background()
	acct, err := e.db.AccountByAddress(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := e.db.MailboxByName(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.db.Messages(ctx, mb.ID, 1, ^uint32(0), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		b, err := e.db.BlobData(ctx, m.BlobID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func (e *subEnv) queue(t *testing.T) []mailbox.QueueItem {
	t.Helper()
	q, err := e.svc.QueueList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

const plainMsg = "From: Alice <alice@example.org>\r\nTo: x@remote.test\r\nSubject: hi\r\n\r\nHello.\r\n"

func TestSubmissionEHLOOffersAuth(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := dial(t, e.addr)
	ok, mechs := c.Extension("AUTH")
	if !ok || mechs != "PLAIN LOGIN" {
		t.Errorf("AUTH %v %q on loopback", ok, mechs)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("no STARTTLS")
	}
}

func TestSubmissionAuthAllowed(t *testing.T) {
	t.Parallel()
	lo := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	lo6 := &net.TCPAddr{IP: net.IPv6loopback}
	public := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}
	for _, c := range []struct {
		tls   bool
		local net.Addr
		want  bool
	}{{false, lo, true}, {false, lo6, true}, {false, public, false}, {true, public, true}, {false, &net.UnixAddr{}, false}} {
		if got := authAllowed(c.tls, c.local); got != c.want {
			t.Errorf("authAllowed(%v, %v) = %v", c.tls, c.local, got)
		}
	}
}

func TestSubmissionMailBeforeAuth(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := dial(t, e.addr)
	subWantCode(t, "MAIL before AUTH", c.Mail("alice@example.org", nil), 530, gosmtp.EnhancedCode{5, 7, 0})
	if q := e.queue(t); len(q) != 0 {
		t.Errorf("queued %v", q)
	}
}

func TestSubmissionWrongPassword(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := dial(t, e.addr)
	subWantCode(t, "wrong password", c.Auth(sasl.NewPlainClient("", "alice@example.org", "nope")), 535, gosmtp.EnhancedCode{5, 7, 8})
	c2 := dial(t, e.addr)
	subWantCode(t, "unknown user", c2.Auth(sasl.NewLoginClient("nobody@example.org", "x")), 535, gosmtp.EnhancedCode{5, 7, 8})
	c3 := dial(t, e.addr)
	subWantCode(t, "other authzid", c3.Auth(sasl.NewPlainClient("bob@example.org", "alice@example.org", "alice-pw")), 535, gosmtp.EnhancedCode{5, 7, 8})
	subLogin(t, e.addr, "alice@example.org", "alice-pw")
	wantSub(t, "log", e.log.String(), "smtp: submission login failed")
}

// LOGIN without an initial response, as old clients do it.
func TestSubmissionAuthLoginDialog(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tc := textproto.NewConn(nc)
	step := func(line string, want int) string {
		t.Helper()
		if line != "" {
			tc.PrintfLine("%s", line)
		}
		_, msg, err := tc.ReadResponse(want)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		return msg
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	step("", 220)
	step("EHLO client.example", 250)
	if msg := step("AUTH LOGIN", 334); msg != b64("Username:") {
		t.Errorf("challenge %q", msg)
	}
	if msg := step(b64("alice@example.org"), 334); msg != b64("Password:") {
		t.Errorf("challenge %q", msg)
	}
	step(b64("alice-pw"), 235)
	step("MAIL FROM:<alice@example.org>", 250)
}

func TestSubmissionLoginServerSteps(t *testing.T) {
	t.Parallel()
	var gotUser, gotPass string
	auth := func(identity, u, p string) error { gotUser, gotPass = u, p; return nil }
	s := newLoginServer(auth)
	if ch, done, err := s.Next([]byte("u@x")); string(ch) != "Password:" || done || err != nil {
		t.Fatalf("initial response: %q %v %v", ch, done, err)
	}
	if _, done, err := s.Next([]byte("pw")); !done || err != nil || gotUser != "u@x" || gotPass != "pw" {
		t.Fatalf("password: %v %v %q %q", done, err, gotUser, gotPass)
	}
	if _, _, err := s.Next([]byte("more")); err == nil {
		t.Error("a response after the end")
	}
}

func TestSubmissionSenderOwnership(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	for _, from := range []string{"alice@example.org", "Alice+lists@Example.ORG", "team@example.org"} {
		if err := c.Mail(from, nil); err != nil {
			t.Errorf("MAIL FROM:<%s>: %v", from, err)
		}
		c.Reset()
	}
	for _, from := range []string{"bob@example.org", "alice@remote.test", "nobody@example.org"} {
		subWantCode(t, "MAIL FROM:<"+from+">", c.Mail(from, nil), 553, gosmtp.EnhancedCode{5, 7, 1})
		c.Reset()
	}
	subWantCode(t, "null sender", c.Mail("", nil), 553, gosmtp.EnhancedCode{5, 7, 1})
	c.Reset()
	subWantCode(t, "bad syntax", c.Mail("alice@[127.0.0.1]", nil), 553, gosmtp.EnhancedCode{5, 1, 7})
	if q := e.queue(t); len(q) != 0 {
		t.Errorf("queued %v", q)
	}
}

// Local and remote recipients commit together; the message gets the
// trace and the fields its client left out.
func TestSubmissionLocalAndRemote(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	if err := send(c, "alice@example.org", []string{"bob@example.org", "x@remote.test", "Y@Remote.Test", "x@remote.test"}, plainMsg); err != nil {
		t.Fatal(err)
	}
	inbox := e.inbox(t, "bob@example.org")
	if len(inbox) != 1 {
		t.Fatalf("bob has %d messages", len(inbox))
	}
	msg := inbox[0]
	if !strings.HasPrefix(msg, "Return-Path: <alice@example.org>\r\nReceived: from client.example.net ([127.0.0.1])\r\n\tby mail.example.org (Pillarbox) with ESMTPA id ") {
		t.Errorf("trace:\n%s", msg)
	}
	wantSub(t, "message", msg, "Message-ID: <", "@mail.example.org>\r\n", "Date: Tue, 24 Nov 2026 12:00:00 +0000\r\n", plainMsg)
	q := e.queue(t)
	if len(q) != 2 {
		t.Fatalf("queue %+v", q)
	}
	for i, want := range []string{"x@remote.test", "y@remote.test"} {
		it := q[i]
		if it.Recipient != want || it.Domain != "remote.test" || it.Sender != "alice@example.org" || it.State != mailbox.QueueQueued || it.AccountID == 0 {
			t.Errorf("queue item %d: %+v", i, it)
		}
		if it.BlobID != q[0].BlobID {
			t.Error("remote recipients do not share the stored message")
		}
	}
	wantSub(t, "log", e.log.String(), "smtp: submitted", "local=1 queued=2")
}

func TestSubmissionKeepsClientFields(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	msg := "Message-ID: <mine@example.org>\r\nDATE : Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: s\r\n\r\nbody\r\nDate: not a header\r\n"
	if err := send(c, "alice@example.org", []string{"bob@example.org"}, msg); err != nil {
		t.Fatal(err)
	}
	got := e.inbox(t, "bob@example.org")[0]
	if strings.Count(got, "Message-ID:") != 1 || strings.Count(got, "Date: Tue") != 0 {
		t.Errorf("fields added to a complete header:\n%s", got)
	}
}

func TestSubmissionBadInputQueuesNothing(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 200)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	if err := c.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	subWantCode(t, "unknown local user", c.Rcpt("nobody@example.org", nil), 550, gosmtp.EnhancedCode{5, 1, 1})
	subWantCode(t, "bad address", c.Rcpt("x@@remote.test", nil), 553, gosmtp.EnhancedCode{5, 1, 3})
	for _, r := range []string{"a@remote.test", "b@remote.test", "c@remote.test", "d@remote.test"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	subWantCode(t, "past the limit", c.Rcpt("e@remote.test", nil), 452, gosmtp.EnhancedCode{4, 5, 3})
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, plainMsg+strings.Repeat("x", 300)+"\r\n")
	subWantCode(t, "too large", w.Close(), 552, gosmtp.EnhancedCode{5, 3, 4})
	if q := e.queue(t); len(q) != 0 {
		t.Errorf("queued %v", q)
	}
	c.Reset()
	subWantCode(t, "declared size", c.Mail("alice@example.org", &gosmtp.MailOptions{Size: 1000}), 552, gosmtp.EnhancedCode{5, 3, 4})
}

func TestSubmissionOverTLS(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	// STARTTLS.
	c, err := gosmtp.DialStartTLS(e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "bob@example.org", "bob-pw")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "bob@example.org", []string{"alice@example.org"}, "Subject: tls\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	// Implicit TLS (RFC 8314).
	c2, err := gosmtp.DialTLS(e.tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Auth(sasl.NewLoginClient("bob@example.org", "bob-pw")); err != nil {
		t.Fatal(err)
	}
	if err := send(c2, "bob@example.org", []string{"alice@example.org"}, "Subject: tls2\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	inbox := e.inbox(t, "alice@example.org")
	if len(inbox) != 2 {
		t.Fatalf("%d messages", len(inbox))
	}
	for _, m := range inbox {
		wantSub(t, "message", m, "with ESMTPSA id")
	}
}

// A failing store is a temporary error; nothing is half-stored.
func TestSubmissionInternalErrorIsTemporary(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	e.db.Close()
	subWantCode(t, "closed store", send(c, "alice@example.org", []string{"x@remote.test"}, plainMsg), 451, gosmtp.EnhancedCode{4, 3, 0})
}

func TestHeaderHas(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		msg, name string
		want      bool
	}{
		{"Date: x\r\n\r\n", "date", true},
		{"date : x\r\n\r\n", "date", true},
		{"Subject: x\r\n Date: folded\r\n\r\n", "date", false},
		{"Subject: x\r\n\r\nDate: body\r\n", "date", false},
		{"X-Date: x\r\n\r\n", "date", false},
		{"Subject: x\nMessage-Id: <a@b>\n\n", "message-id", true},
		{"", "date", false},
	} {
		if got := headerHas([]byte(c.msg), c.name); got != c.want {
			t.Errorf("headerHas(%q, %s) = %v", c.msg, c.name, got)
		}
	}
}

func wantSub(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

// headerHas reports, through scanHeader, whether the header block at the start of msg has a
// field with the given lower-case name.
func headerHas(msg []byte, name string) bool {
	fields, _ := scanHeader(msg, func(n string) bool { return strings.EqualFold(n, name) })
	return len(fields) > 0
}
