package smtp

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
	"pillarbox/smtp/msgauth"
	"pillarbox/smtp/msgauth/dnstest"
	"pillarbox/smtp/relay"
)

// kickCounter is the relay's Runner as Notices, counting kicks.
type kickCounter struct {
	*relay.Runner
	kicks atomic.Int32
}

func (k *kickCounter) Kick() { k.kicks.Add(1); k.Runner.Kick() }

func newNotices(svc *mailbox.Service) *kickCounter {
	return &kickCounter{Runner: relay.New(svc, relay.Options{Hostname: "mx.example.org",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})}
}

// lateNotices is Notices made after the server's options.
type lateNotices struct{ *kickCounter }

// sendWith runs one transaction with MAIL and RCPT parameters.
func sendWith(c *gosmtp.Client, from string, mo *gosmtp.MailOptions, to []string, ro []*gosmtp.RcptOptions, msg string) error {
	if err := c.Mail(from, mo); err != nil {
		return err
	}
	for i, r := range to {
		if err := c.Rcpt(r, ro[i]); err != nil {
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

// Both listeners offer DSN; REQUIRETLS only on a TLS session (RFC 8689
// 4.1), and a REQUIRETLS without TLS is refused.
func TestEnvelopeExtensionsOffered(t *testing.T) {
	t.Parallel()
	mx := startMX(t, envOptions{})
	sub := startSubmission(t, 0)
	for name, addr := range map[string]string{"mx": mx.addr, "submission": sub.addr} {
		c := dial(t, addr)
		if ok, _ := c.Extension("DSN"); !ok {
			t.Errorf("%s: DSN not offered", name)
		}
		if ok, _ := c.Extension("REQUIRETLS"); ok {
			t.Errorf("%s: REQUIRETLS offered without TLS", name)
		}
		tc, err := gosmtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := tc.Extension("REQUIRETLS"); !ok {
			t.Errorf("%s: REQUIRETLS not offered after STARTTLS", name)
		}
		tc.Close()
		raw, _ := rawConn(t, addr)
		cmd(t, raw, "EHLO client.example.net", 250)
		if name == "submission" {
			cmd(t, raw, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3", 235) // alice@example.org, alice-pw
			cmd(t, raw, "MAIL FROM:<alice@example.org> REQUIRETLS", 530)
		} else {
			cmd(t, raw, "MAIL FROM:<zoe@example.net> REQUIRETLS", 530)
		}
		from := map[string]string{"mx": "zoe@example.net", "submission": "alice@example.org"}[name]
		cmd(t, raw, "MAIL FROM:<"+from+"> ENVID="+strings.Repeat("x", 101), 501)
		cmd(t, raw, "MAIL FROM:<"+from+"> ENVID="+strings.Repeat("x", 100), 250)
		// A control character in a utf-8 ORCPT (escaped as \x{..}) would
		// reach notices' headers, the queue listing and the log.
		to := map[string]string{"mx": "alice@example.org", "submission": "bob@remote.example"}[name]
		cmd(t, raw, `RCPT TO:<`+to+`> ORCPT=utf-8;x\x{01}y@example.org`, 501)
		cmd(t, raw, `RCPT TO:<`+to+`> ORCPT=utf-8;x\x{E9}y@example.org`, 250)
	}
	tc, err := gosmtp.DialTLS(sub.tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := tc.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := tc.Extension("REQUIRETLS"); !ok {
		t.Error("submission over implicit TLS: REQUIRETLS not offered")
	}
}

// NOTIFY=SUCCESS on the MX: the local delivery gets a "delivered"
// notice, queued for the remote sender with the null sender in the
// delivery's transaction, naming only the recipients that asked, with
// ENVID and ORCPT; the relay is kicked. REQUIRETLS over STARTTLS is
// accepted.
func TestMXSuccessNotice(t *testing.T) {
	t.Parallel()
	// The runner needs the store that startMX makes: it is made there.
	notices := &lateNotices{}
	// Notices go only to senders that SPF or DKIM vouched for: example.net
	// lets 127.0.0.1 send; forged.test lets nobody.
	dns := dnstest.Start(t)
	dns.SetTXT("example.net", "v=spf1 ip4:127.0.0.1 -all")
	dns.SetTXT("forged.test", "v=spf1 -all")
	v := msgauth.NewVerifier(msgauth.VerifierOptions{Resolver: dns.Resolver(), Hostname: "mx.example.org", Timeout: 2 * time.Second})
	e := startMX(t, envOptions{opts: Options{Notices: notices, Inbound: Inbound{Verifier: v}}, wrap: func(m Mailboxes) Mailboxes {
		notices.kickCounter = newNotices(m.(*mailbox.Service))
		return m
	}})
	c, err := gosmtp.DialStartTLS(e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = sendWith(c, "zoe@example.net", &gosmtp.MailOptions{Return: gosmtp.DSNReturnHeaders, EnvelopeID: "ENV-42", RequireTLS: true},
		[]string{"alice@example.org", "carol@example.org"},
		[]*gosmtp.RcptOptions{
			{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess, gosmtp.DSNNotifyFailure}, OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "Alice.Old@example.org"},
			{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure}},
		}, "From: zoe@example.net\r\nSubject: dsn\r\nMessage-ID: <dsn1@example.net>\r\n\r\nbody\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if inboxCount(t, e, "alice@example.org") != 1 || inboxCount(t, e, "carol@example.org") != 1 {
		t.Fatal("not delivered")
	}
	q, err := e.svc.QueueList(context.Background())
	if err != nil || len(q) != 1 {
		t.Fatalf("queue %+v, %v; want one notice", q, err)
	}
	n := q[0]
	if n.Sender != "" || n.Recipient != "zoe@example.net" || n.Params.Notify != "NEVER" || !n.Params.RequireTLS {
		t.Errorf("notice item %+v", n)
	}
	data, err := e.svc.QueueMessage(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{"Subject: Successful Mail Delivery Report", "Original-Envelope-Id: ENV-42\r\n",
		"Original-Recipient: rfc822; Alice.Old@example.org\r\nFinal-Recipient: rfc822; alice@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n",
		"Subject: dsn"} {
		if !strings.Contains(got, want) {
			t.Errorf("notice lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "carol@example.org") {
		t.Errorf("notice names carol, who did not ask:\n%s", got)
	}
	if notices.kickCounter.kicks.Load() != 1 {
		t.Errorf("%d kicks, want 1", notices.kickCounter.kicks.Load())
	}

	// Without NOTIFY=SUCCESS, from the null sender, or from a sender SPF
	// does not vouch for (backscatter to a forged address), no notice.
	c2 := dial(t, e.addr)
	err = sendWith(c2, "victim@forged.test", nil, []string{"bob@example.org"},
		[]*gosmtp.RcptOptions{{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess}}}, "Subject: spam\r\n\r\nx\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := send(c2, "zoe@example.net", []string{"bob@example.org"}, "Subject: plain\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	err = sendWith(c2, "", nil, []string{"bob@example.org"},
		[]*gosmtp.RcptOptions{{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess}}}, "Subject: bounce\r\n\r\nx\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := e.svc.QueueList(context.Background()); len(q) != 1 {
		t.Errorf("queue has %d items, want only the first notice", len(q))
	}
}

// Submission through go-smtp's client with every DSN parameter and
// REQUIRETLS: remote recipients are queued with theirs, a local one that
// asked for success gets the sender a "delivered" notice in its INBOX.
func TestSubmissionEnvelopeParams(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	tlsConf := testTLSConfig(t, "mail.example.org")
	srv := NewSubmission(e.svc, SubmissionOptions{Options: Options{Hostname: "mail.example.org", TLS: tlsConf,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Notices: newNotices(e.svc),
		Now: func() time.Time { return subNow }}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(tls.NewListener(ln, tlsConf))
	t.Cleanup(func() { srv.Close() })

	c, err := gosmtp.DialTLS(ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.org", "alice-pw")); err != nil {
		t.Fatal(err)
	}
	err = sendWith(c, "alice@example.org", &gosmtp.MailOptions{Return: gosmtp.DSNReturnFull, EnvelopeID: "sub 1+2", RequireTLS: true},
		[]string{"x@remote.test", "y@remote.test", "bob@example.org", "z@remote.test", "team@example.org"},
		[]*gosmtp.RcptOptions{
			{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess, gosmtp.DSNNotifyDelayed}, OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "X <x@remote.test>"},
			{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyNever}},
			{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess}},
			nil,
			{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess}},
		}, plainMsg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]mailbox.QueueParams{
		"x@remote.test": {Ret: "FULL", EnvID: "sub 1+2", RequireTLS: true, Notify: "SUCCESS,DELAY", ORcpt: "rfc822;X <x@remote.test>"},
		"y@remote.test": {Ret: "FULL", EnvID: "sub 1+2", RequireTLS: true, Notify: "NEVER"},
		"z@remote.test": {Ret: "FULL", EnvID: "sub 1+2", RequireTLS: true},
	}
	q := e.queue(t)
	if len(q) != 3 {
		t.Fatalf("queue %+v", q)
	}
	for _, it := range q {
		if it.Params != want[it.Recipient] {
			t.Errorf("%s: params %+v, want %+v", it.Recipient, it.Params, want[it.Recipient])
		}
	}
	if n := len(e.inbox(t, "bob@example.org")); n != 1 {
		t.Errorf("bob has %d messages", n)
	}
	inbox := e.inbox(t, "alice@example.org")
	if len(inbox) != 2 {
		t.Fatalf("alice has %d messages, want the message (through team) and the notice", len(inbox))
	}
	// RFC 3461 5.2.7.3: an alias for several mailboxes is "expanded".
	for _, w := range []string{"Return-Path: <>\r\n", "Final-Recipient: rfc822; bob@example.org\r\nAction: delivered\r\n",
		"Final-Recipient: rfc822; team@example.org\r\nAction: expanded\r\nStatus: 2.0.0\r\n", "Original-Envelope-Id: sub 1+2\r\n"} {
		if !strings.Contains(inbox[1], w) {
			t.Errorf("notice lacks %q:\n%s", w, inbox[1])
		}
	}
}
