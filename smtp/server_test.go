package smtp

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/sqlite"
	"pillarbox/store/storetest"
)

type testEnv struct {
	addr string
	svc  *mailbox.Service
	db   store.Store
	srv  *Server
}

type envOptions struct {
	maxPages int
	wrap     func(Mailboxes) Mailboxes
	opts     Options
}

// startMX runs an MX on 127.0.0.1:0 over a fresh store with users alice,
// bob and carol @example.org and alias team → alice, bob.
func startMX(t *testing.T, eo envOptions) *testEnv {
	t.Helper()
	var db store.Store
	if eo.maxPages > 0 {
		// A store that fills up: SQLite's page limit makes one.
		sdb, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), sqlite.Options{MaxPages: eo.maxPages})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sdb.Close() })
		db = sdb
	} else {
		db = storetest.Open(t, pg)
	}
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := svc.AddUser(ctx, u+"@example.org", "pw"); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.SetAlias(ctx, "team@example.org", []string{"alice@example.org", "bob@example.org"}); err != nil {
		t.Fatal(err)
	}
	var mb Mailboxes = svc
	if eo.wrap != nil {
		mb = eo.wrap(svc)
	}
	o := eo.opts
	o.Hostname = "mx.example.org"
	if o.TLS == nil {
		o.TLS = testTLSConfig(t, "mx.example.org")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.Now = func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }
	srv := NewMX(mb, o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &testEnv{addr: ln.Addr().String(), svc: svc, db: db, srv: srv}
}

// testTLSConfig returns a server config with a self-signed certificate
// for host.
func testTLSConfig(t *testing.T, host string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host},
		DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, SessionTicketsDisabled: true}
}

func dial(t *testing.T, addr string) *gosmtp.Client {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	return c
}

// send runs one transaction and returns the error of the first step that
// failed.
func send(c *gosmtp.Client, from string, to []string, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

func wantCode(t *testing.T, err error, code int, enhanced gosmtp.EnhancedCode) {
	t.Helper()
	subWantCode(t, "reply", err, code, enhanced)
}

func inboxCount(t *testing.T, e *testEnv, user string) int {
	t.Helper()
	n, err := e.svc.Count(context.Background(), user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lastMessage returns the raw bytes of the newest message in user's INBOX.
func lastMessage(t *testing.T, e *testEnv, user string) string {
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
	if err != nil || len(msgs) == 0 {
		t.Fatalf("no messages for %s: %v", user, err)
	}
	data, err := e.db.BlobData(ctx, msgs[len(msgs)-1].BlobID)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestEHLOExtensions(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	c := dial(t, e.addr)
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("EHLO does not offer %s", ext)
		}
	}
	if _, param := c.Extension("SIZE"); param != "26214400" {
		t.Errorf("SIZE %q, want the default 25 MiB", param)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Errorf("the MX offers AUTH")
	}
}

func TestDeliverWithTraceHeaders(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	c := dial(t, e.addr)
	body := "From: zoe@example.net\r\nTo: alice@example.org\r\nSubject: hello\r\nMessage-ID: <x1@example.net>\r\n\r\nline one\r\n.leading dot\r\n"
	if err := send(c, "zoe@example.net", []string{"alice+news@example.org"}, body); err != nil {
		t.Fatal(err)
	}
	got := lastMessage(t, e, "alice@example.org")
	if !strings.HasPrefix(got, "Return-Path: <zoe@example.net>\r\nReceived: from client.example.net ([127.0.0.1])\r\n\tby mx.example.org (Pillarbox) with ESMTP id ") {
		t.Fatalf("trace headers:\n%s", got)
	}
	if !strings.Contains(got, "\tfor <alice+news@example.org>;\r\n\tTue, 24 Nov 2026 12:00:00 +0000\r\n") {
		t.Fatalf("Received lacks recipient or date:\n%s", got)
	}
	if !strings.HasSuffix(got, body) {
		t.Fatalf("body not stored byte for byte:\n%q", got)
	}
}

func TestSTARTTLS(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	c, err := gosmtp.DialStartTLS(e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := send(c, "zoe@example.net", []string{"bob@example.org"}, "Subject: tls\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	if got := lastMessage(t, e, "bob@example.org"); !strings.Contains(got, "with ESMTPS id") {
		t.Fatalf("Received does not record TLS:\n%s", got)
	}
}

func TestRecipientRules(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{opts: Options{MaxRecipients: 3}})
	c := dial(t, e.addr)
	if err := c.Mail("zoe@example.net", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("nobody@example.org", nil), 550, gosmtp.EnhancedCode{5, 1, 1})
	wantCode(t, c.Rcpt("someone@gmail.example", nil), 554, gosmtp.EnhancedCode{5, 7, 1})
	wantCode(t, c.Rcpt(strings.Repeat("a", 65)+"@example.org", nil), 553, gosmtp.EnhancedCode{5, 1, 3})
	wantCode(t, c.Rcpt("not an address", nil), 501, gosmtp.EnhancedCode{5, 5, 2})
	for _, r := range []string{"alice@example.org", "bob@example.org", "carol@example.org"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, c.Rcpt("team@example.org", nil), 452, gosmtp.EnhancedCode{4, 5, 3})
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: x\r\n\r\nx\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if n := inboxCount(t, e, u+"@example.org"); n != 1 {
			t.Errorf("%s has %d messages", u, n)
		}
	}
}

func TestAliasFansOutOnce(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	c := dial(t, e.addr)
	if err := send(c, "", []string{"team@example.org", "alice@example.org", "ALICE@example.org"}, "Subject: team\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	if a, b := inboxCount(t, e, "alice@example.org"), inboxCount(t, e, "bob@example.org"); a != 1 || b != 1 {
		t.Fatalf("alice %d, bob %d messages; want 1 each", a, b)
	}
	if n, _ := e.db.CountBlobs(context.Background()); n != 1 {
		t.Fatalf("%d blobs stored", n)
	}
	if got := lastMessage(t, e, "bob@example.org"); !strings.HasPrefix(got, "Return-Path: <>\r\n") || strings.Contains(got, "\tfor <") {
		t.Fatalf("trace headers for the null sender to several recipients:\n%s", got)
	}
}

func TestMessageTooLarge(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{opts: Options{MaxMessageBytes: 1000}})
	c := dial(t, e.addr)
	wantCode(t, c.Mail("zoe@example.net", &gosmtp.MailOptions{Size: 5000}), 552, gosmtp.EnhancedCode{5, 3, 4})
	err := send(c, "zoe@example.net", []string{"alice@example.org"}, "Subject: big\r\n\r\n"+strings.Repeat("0123456789\r\n", 200))
	wantCode(t, err, 552, gosmtp.EnhancedCode{5, 3, 4})
	// A long line (beyond RFC 5321's 1000 octets) is accepted; an absurd
	// one is refused for good.
	e2 := startMX(t, envOptions{})
	c2 := dial(t, e2.addr)
	if err := send(c2, "zoe@example.net", []string{"alice@example.org"}, "Subject: long\r\n\r\n"+strings.Repeat("x", 5000)+"\r\n"); err != nil {
		t.Fatalf("5000-byte line: %v", err)
	}
	c3 := dial(t, e2.addr)
	wantCode(t, send(c3, "zoe@example.net", []string{"alice@example.org"}, "Subject: absurd\r\n\r\n"+strings.Repeat("x", 100_000)+"\r\n"), 554, gosmtp.EnhancedCode{5, 6, 0})

	// The connection is still usable and nothing was stored.
	if err := send(c, "zoe@example.net", []string{"alice@example.org"}, "Subject: small\r\n\r\nok\r\n"); err != nil {
		t.Fatal(err)
	}
	if n := inboxCount(t, e, "alice@example.org"); n != 1 {
		t.Fatalf("%d messages, want only the small one", n)
	}
}

type failingDeliver struct {
	Mailboxes
	err error
}

func (f failingDeliver) Deliver(context.Context, *mailbox.Delivery) (mailbox.Delivered, error) {
	return mailbox.Delivered{}, f.err
}

func TestInternalErrorIsTemporary(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{wrap: func(m Mailboxes) Mailboxes { return failingDeliver{m, errors.New("disk on fire")} }})
	c := dial(t, e.addr)
	wantCode(t, send(c, "zoe@example.net", []string{"alice@example.org"}, "Subject: x\r\n\r\nx\r\n"), 451, gosmtp.EnhancedCode{4, 3, 0})
}

func TestStorageFull(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{maxPages: 200})
	c := dial(t, e.addr)
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 76)+"\r\n", 20000) // ~1.5 MB
	wantCode(t, send(c, "zoe@example.net", []string{"alice@example.org"}, big), 452, gosmtp.EnhancedCode{4, 3, 1})
	// Others are still served, and small mail still fits.
	c2 := dial(t, e.addr)
	if err := send(c2, "zoe@example.net", []string{"bob@example.org"}, "Subject: small\r\n\r\nok\r\n"); err != nil {
		t.Fatalf("small message after full: %v", err)
	}
	if n := inboxCount(t, e, "alice@example.org"); n != 0 {
		t.Fatalf("alice has %d messages after a refused delivery", n)
	}
}

// rawConn speaks SMTP by hand for what the client library will not send.
func rawConn(t *testing.T, addr string) (*textproto.Conn, net.Conn) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	tc := textproto.NewConn(nc)
	if _, _, err := tc.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	return tc, nc
}

func cmd(t *testing.T, tc *textproto.Conn, line string, want int) string {
	t.Helper()
	if err := tc.PrintfLine("%s", line); err != nil {
		t.Fatal(err)
	}
	code, msg, err := tc.ReadResponse(want)
	if err != nil {
		t.Fatalf("%.40q: got %d %s (%v), want %d", line, code, msg, err, want)
	}
	return msg
}

func TestCHUNKING(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<carol@example.org>", 250)
	part1 := "Subject: chunks\r\n\r\n"
	part2 := ".first line starts with a dot\r\n"
	fmt.Fprintf(nc, "BDAT %d\r\n%s", len(part1), part1)
	if _, _, err := tc.ReadResponse(250); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(nc, "BDAT %d LAST\r\n%s", len(part2), part2)
	if _, _, err := tc.ReadResponse(250); err != nil {
		t.Fatal(err)
	}
	if got := lastMessage(t, e, "carol@example.org"); !strings.HasSuffix(got, part1+part2) {
		t.Fatalf("BDAT message stored as:\n%q", got)
	}
}

func TestBadInputKeepsServing(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})

	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO x", 250)
	cmd(t, tc, "MAIL FROM:<zoe@example.net", 501)
	cmd(t, tc, "RCPT TO:<alice@example.org>", 502)
	cmd(t, tc, "DATA", 502)
	cmd(t, tc, "FROB", 500)
	cmd(t, tc, "\x00\x01\x02\xff garbage", 500)
	// A 100 KB line: the server answers and closes this connection.
	fmt.Fprintf(nc, "MAIL FROM:<%s@example.net>\r\n", strings.Repeat("a", 100_000))
	if code, _, err := tc.ReadResponse(500); err != nil {
		t.Fatalf("100 KB line: %d %v", code, err)
	}
	if _, err := bufio.NewReader(nc).ReadByte(); err == nil {
		t.Fatal("connection still open after an overlong line")
	}

	// A connection cut in the middle of DATA stores nothing.
	tc2, nc2 := rawConn(t, e.addr)
	cmd(t, tc2, "EHLO x", 250)
	cmd(t, tc2, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc2, "RCPT TO:<alice@example.org>", 250)
	cmd(t, tc2, "DATA", 354)
	io.WriteString(nc2, "Subject: cut\r\n\r\nhalf a mess")
	nc2.Close()

	// Everyone else is still served.
	c := dial(t, e.addr)
	if err := send(c, "zoe@example.net", []string{"bob@example.org"}, "Subject: fine\r\n\r\nok\r\n"); err != nil {
		t.Fatal(err)
	}
	if n := inboxCount(t, e, "alice@example.org"); n != 0 {
		t.Fatalf("truncated message stored: alice has %d", n)
	}
}

func TestConcurrentSenders(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	const senders, each = 10, 20
	var wg sync.WaitGroup
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gosmtp.Dial(e.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for j := range each {
				msg := fmt.Sprintf("Subject: %d-%d\r\nMessage-ID: <%d.%d@example.net>\r\n\r\nbody\r\n", i, j, i, j)
				if err := send(c, "zoe@example.net", []string{"alice@example.org", "bob@example.org"}, msg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if a, b := inboxCount(t, e, "alice@example.org"), inboxCount(t, e, "bob@example.org"); a != senders*each || b != senders*each {
		t.Fatalf("alice %d, bob %d; want %d each", a, b, senders*each)
	}
}

// slowDeliver holds Deliver until released, to catch a shutdown mid-DATA.
type slowDeliver struct {
	Mailboxes
	entered chan struct{}
	release chan struct{}
}

func (s slowDeliver) Deliver(ctx context.Context, d *mailbox.Delivery) (mailbox.Delivered, error) {
	close(s.entered)
	<-s.release
	return s.Mailboxes.Deliver(ctx, d)
}

func TestShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	slow := slowDeliver{entered: make(chan struct{}), release: make(chan struct{})}
	e := startMX(t, envOptions{wrap: func(m Mailboxes) Mailboxes { slow.Mailboxes = m; return slow }})
	c := dial(t, e.addr)
	idle := dial(t, e.addr) // an idle connection must not hold shutdown up
	result := make(chan error, 1)
	go func() { result <- send(c, "zoe@example.net", []string{"alice@example.org"}, "Subject: x\r\n\r\nx\r\n") }()
	<-slow.entered
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(context.Background()) }()
	close(slow.release)
	if err := <-result; err != nil {
		t.Fatalf("in-flight message: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if n := inboxCount(t, e, "alice@example.org"); n != 1 {
		t.Fatalf("%d messages after shutdown, want 1", n)
	}
	if err := idle.Noop(); err == nil {
		t.Fatal("idle connection still served after Shutdown")
	}
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Fatal("listener still accepting after Shutdown")
	}
}
