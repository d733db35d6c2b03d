package main

import (
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/smtp/msgauth/dnstest"
)

// dsnSink is a smarthost on loopback that offers DSN, refuses
// carol@remote.test, defers dave@remote.test, and hands over every transaction with its
// parameters.
type dsnSink struct {
	addr string
	got  chan dsnTx
}

type dsnTx struct {
	from  string
	mail  gosmtp.MailOptions
	rcpts []string
	opts  []gosmtp.RcptOptions
	data  string
}

type dsnSinkSession struct {
	s  *dsnSink
	tx dsnTx
}

func (x *dsnSinkSession) Reset()        { x.tx = dsnTx{} }
func (x *dsnSinkSession) Logout() error { return nil }
func (x *dsnSinkSession) Mail(from string, o *gosmtp.MailOptions) error {
	x.tx = dsnTx{from: from, mail: *o}
	return nil
}
func (x *dsnSinkSession) Rcpt(to string, o *gosmtp.RcptOptions) error {
	switch to {
	case "carol@remote.test":
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	case "dave@remote.test":
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 2, 0}, Message: "Mailbox busy"}
	}
	x.tx.rcpts, x.tx.opts = append(x.tx.rcpts, to), append(x.tx.opts, *o)
	return nil
}
func (x *dsnSinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	x.tx.data = string(b)
	x.s.got <- x.tx
	return err
}

func startDSNSink(t *testing.T) *dsnSink {
	t.Helper()
	s := &dsnSink{got: make(chan dsnTx, 10)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &dsnSinkSession{s: s}, nil }))
	srv.Domain = "smarthost.test"
	srv.EnableDSN = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *dsnSink) wait(t *testing.T) dsnTx {
	t.Helper()
	select {
	case tx := <-s.got:
		return tx
	case <-time.After(20 * time.Second):
		t.Fatal("the smarthost got nothing")
	}
	return dsnTx{}
}

// The DSN extension through the built binary: a client submits with
// go-smtp's client and every DSN parameter; the smarthost (which offers
// DSN) gets them; a refused recipient with NOTIFY=NEVER bounces nobody;
// `queue show` lists a deferred recipient's parameters. A REQUIRETLS
// message bounces, since the smarthost is not reached over verified
// TLS. Then mail to the MX from a remote sender with NOTIFY=SUCCESS makes a
// "delivered" notice that the relay takes to the smarthost, with the
// null sender.
func TestDSNEndToEnd(t *testing.T) {
	t.Parallel()
	sink := startDSNSink(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	// The MX checks senders: a success notice goes only to one SPF
	// vouches for (remote.test lets 127.0.0.1 send).
	dns := dnstest.Start(t)
	dns.SetTXT("remote.test", "v=spf1 ip4:127.0.0.1 -all")
	cfg := writeServeConfig(t, dataDir, func(c *Config) {
		c.Submission.Listen = "127.0.0.1:0"
		c.Relay.Smarthost = sink.addr
		c.Relay.Retry = []Duration{{time.Hour}}
		c.Inbound.Verify = true
		c.DNS.Resolver = dns.Addr()
	})
	mustCLI(t, "secret-pw\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)

	c, err := gosmtp.DialStartTLS(srv.addrs["submission"], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("DSN"); !ok {
		t.Fatal("submission does not offer DSN")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "secret-pw")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.test", &gosmtp.MailOptions{Return: gosmtp.DSNReturnHeaders, EnvelopeID: "e2e-envid"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@remote.test", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess, gosmtp.DSNNotifyFailure},
		OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "bob.original@remote.test"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("carol@remote.test", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyNever}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("dave@remote.test", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyDelayed},
		OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "Dave <d@remote.test>"}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: alice@example.test\r\nTo: bob@remote.test, carol@remote.test\r\nSubject: dsn e2e\r\n\r\nhello\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tx := sink.wait(t)
	if tx.from != "alice@example.test" || !slices.Equal(tx.rcpts, []string{"bob@remote.test"}) {
		t.Fatalf("smarthost got <%s> → %v", tx.from, tx.rcpts)
	}
	if tx.mail.Return != gosmtp.DSNReturnHeaders || tx.mail.EnvelopeID != "e2e-envid" {
		t.Errorf("MAIL parameters %+v", tx.mail)
	}
	if o := tx.opts[0]; !slices.Equal(o.Notify, []gosmtp.DSNNotify{"SUCCESS", "FAILURE"}) || o.OriginalRecipient != "bob.original@remote.test" {
		t.Errorf("RCPT parameters %+v", o)
	}
	srv.waitLog(t, `msg="relay: failed".*rcpt=carol@remote.test`, 20*time.Second)
	srv.waitLog(t, `msg="relay: deferred".*rcpt=dave@remote.test`, 20*time.Second)
	list := mustCLI(t, "", "queue", "list", "--config", cfg)
	if strings.Count(list, "\n") != 2 {
		t.Fatalf("queue list:\n%s", list)
	}
	id := strings.Fields(strings.Split(list, "\n")[1])[0]
	show := mustCLI(t, "", "queue", "show", id, "--config", cfg)
	if !regexp.MustCompile(`(?m)^parameters: +RET=HDRS ENVID=e2e-envid NOTIFY=DELAY ORCPT=rfc822;Dave <d@remote.test>$`).MatchString(show) {
		t.Errorf("queue show:\n%s", show)
	}

	// REQUIRETLS, over STARTTLS: the smarthost is reached without
	// verified TLS, so nothing goes there and alice gets a 5.7.10 bounce.
	if ok, _ := c.Extension("REQUIRETLS"); !ok {
		t.Fatal("submission over STARTTLS does not offer REQUIRETLS")
	}
	if err := c.Mail("alice@example.test", &gosmtp.MailOptions{RequireTLS: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("erin@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	if w, err = c.Data(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: alice@example.test\r\nTo: erin@remote.test\r\nSubject: secret\r\n\r\nfor erin only\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	srv.waitLog(t, `msg="relay: failed".*rcpt=erin@remote.test.*reply="REQUIRETLS: `, 20*time.Second)
	srv.waitLog(t, `msg="relay: notice delivered" kind=bounce to=alice@example.test`, 20*time.Second)

	// A remote sender asks the MX for a success notice.
	mx, err := gosmtp.Dial(srv.addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer mx.Close()
	if err := mx.Hello("client.remote.test"); err != nil {
		t.Fatal(err)
	}
	if err := mx.Mail("zoe@remote.test", &gosmtp.MailOptions{EnvelopeID: "zoe-1"}); err != nil {
		t.Fatal(err)
	}
	if err := mx.Rcpt("alice@example.test", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess}}); err != nil {
		t.Fatal(err)
	}
	w, err = mx.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: zoe@remote.test\r\nTo: alice@example.test\r\nSubject: tell me\r\n\r\nhi\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	notice := sink.wait(t)
	if notice.from != "" || !slices.Equal(notice.rcpts, []string{"zoe@remote.test"}) {
		t.Fatalf("notice <%s> → %v", notice.from, notice.rcpts)
	}
	for _, want := range []string{"Original-Envelope-Id: zoe-1", "Final-Recipient: rfc822; alice@example.test",
		"Action: delivered", "Status: 2.0.0", "Subject: tell me", "DKIM-Signature:"} {
		if !strings.Contains(notice.data, want) {
			t.Errorf("notice lacks %q:\n%s", want, notice.data)
		}
	}
	if o := notice.opts[0]; !slices.Equal(o.Notify, []gosmtp.DSNNotify{"NEVER"}) {
		t.Errorf("the notice went with NOTIFY %v, want NEVER", o.Notify)
	}
	srv.stop(t)
	db := openDataStore(t, dataDir)
	defer db.Close()
	inbox := inboxData(t, db, "alice@example.test")
	if len(inbox) != 2 || !strings.Contains(inbox[0], "Final-Recipient: rfc822; erin@remote.test\r\nAction: failed\r\nStatus: 5.7.10") ||
		!strings.Contains(inbox[1], "Subject: tell me") {
		t.Errorf("alice's INBOX: %d messages, want the REQUIRETLS bounce and zoe's message (no bounce for carol):\n%s",
			len(inbox), strings.Join(inbox, "\n----\n"))
	}
}
