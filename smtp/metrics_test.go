package smtp

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

// countMetrics records what a server counts.
type countMetrics struct {
	mu       sync.Mutex
	received int
	refused  map[Refusal]int
	logins   map[mailbox.LoginOutcome]int
}

func (m *countMetrics) Received() { m.mu.Lock(); m.received++; m.mu.Unlock() }

func (m *countMetrics) Refused(r Refusal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refused == nil {
		m.refused = map[Refusal]int{}
	}
	m.refused[r]++
}

func (m *countMetrics) Login(o mailbox.LoginOutcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.logins == nil {
		m.logins = map[mailbox.LoginOutcome]int{}
	}
	m.logins[o]++
}

func (m *countMetrics) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("received %d, refused %v, logins %v", m.received, m.refused, m.logins)
}

func TestMXMetrics(t *testing.T) {
	t.Parallel()
	m := &countMetrics{}
	e := startMX(t, envOptions{opts: Options{MaxMessageBytes: 200, MaxRecipients: 2, Metrics: m}})
	tc, _ := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.test", 250)
	cmd(t, tc, "MAIL FROM:<a@@b>", 553)
	cmd(t, tc, "MAIL FROM:<x@remote.test>", 250)
	cmd(t, tc, "RCPT TO:<nobody@example.org>", 550)
	cmd(t, tc, "RCPT TO:<someone@elsewhere.test>", 554)
	cmd(t, tc, "RCPT TO:<bob@example.org>", 250)
	cmd(t, tc, "RCPT TO:<alice@example.org>", 250)
	cmd(t, tc, "RCPT TO:<carol@example.org>", 452) // go-smtp's own limit
	cmd(t, tc, "DATA", 354)
	cmd(t, tc, "Subject: big\r\n\r\n"+strings.Repeat("x", 300)+"\r\n.", 552)
	cmd(t, tc, "MAIL FROM:<x@remote.test> SIZE=1000", 552)                 // go-smtp's own check
	cmd(t, tc, "MAIL FROM:<x@remote.test> SIZE=99999999999999999999", 552) // rewritten by the wire
	cmd(t, tc, "MAIL FROM:<x@remote.test>", 250)
	cmd(t, tc, "RCPT TO:<bob@example.org>", 250)
	cmd(t, tc, "DATA", 354)
	cmd(t, tc, "Subject: hi\r\n\r\nhello\r\n.", 250)
	cmd(t, tc, "QUIT", 221)
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[Refusal]int{RefusedSyntax: 1, RefusedRcptUnknown: 1, RefusedRelayDenied: 1, RefusedSize: 3, RefusedTooManyRcpts: 1}
	if m.received != 1 || fmt.Sprint(m.refused) != fmt.Sprint(want) || len(m.logins) != 0 {
		t.Fatalf("got received %d, refused %v, logins %v; want 1 received and refused %v", m.received, m.refused, m.logins, want)
	}
}

func TestSubmissionMetrics(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 1<<20)
	c := dial(t, e.addr)
	if err := c.Mail("alice@example.org", nil); err == nil {
		t.Fatal("MAIL before AUTH accepted")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.org", "wrong")); err == nil {
		t.Fatal("a wrong password accepted")
	}
	c.Close()
	c = subLogin(t, e.addr, "alice@example.org", "alice-pw")
	if err := c.Mail("bob@example.org", nil); err == nil {
		t.Fatal("a sender alice does not own accepted")
	}
	if err := send(c, "alice@example.org", []string{"bob@example.org"}, "Subject: hi\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	m := e.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	wantRefused := map[Refusal]int{RefusedAuthRequired: 1, RefusedSender: 1}
	wantLogins := map[mailbox.LoginOutcome]int{mailbox.LoginFailed: 1, mailbox.LoginSucceeded: 1}
	if m.received != 1 || fmt.Sprint(m.refused) != fmt.Sprint(wantRefused) || fmt.Sprint(m.logins) != fmt.Sprint(wantLogins) {
		t.Fatalf("got received %d, refused %v, logins %v; want 1, %v, %v", m.received, m.refused, m.logins, wantRefused, wantLogins)
	}
}

func TestRefusalOf(t *testing.T) {
	t.Parallel()
	dmarc := &reasoned{why: RefusedDMARC, SMTPError: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "DMARC"}}
	for _, tc := range []struct {
		err  error
		want Refusal
	}{
		{dmarc, RefusedDMARC},
		{errNoSuchUser, RefusedRcptUnknown},
		{errMessageRate, RefusedRate},
		{errRelayDenied, RefusedRelayDenied},
		{errAuthRequired, RefusedAuthRequired},
		{errEncryptionRequired, RefusedAuthRequired},
		{errNotOwner, RefusedSender},
		{tooBig(10), RefusedSize},
		{gosmtp.ErrDataTooLarge, RefusedSize},
		{errShuttingDown, RefusedTemporary},
		{errRcptTempFail, RefusedTemporary},
		{gosmtp.ErrAuthUnknownMechanism, RefusedSyntax},
		{errLineTooLong, RefusedOther},
		{errors.New("plain"), RefusedOther},
	} {
		if got := refusalOf(tc.err); got != tc.want {
			t.Errorf("refusalOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	for r := range RefusalCount + 1 {
		if r.String() == "" {
			t.Errorf("refusal %d has no name", r)
		}
	}
}
