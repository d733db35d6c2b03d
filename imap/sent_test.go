package imap

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/smtp"
)

// submitAs sends msg through a submission server over e's store with
// go-smtp's client, logged in as user (a local part).
func (e *testEnv) submitAs(user, addr string, to []string, msg string) {
	e.t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		e.t.Fatal(err)
	}
	// Plaintext AUTH is allowed on loopback.
	if err := c.Auth(sasl.NewPlainClient("", user+"@example.org", testPassword)); err != nil {
		e.t.Fatalf("AUTH: %v", err)
	}
	if err := c.SendMail(user+"@example.org", to, strings.NewReader(msg)); err != nil {
		e.t.Fatalf("submission: %v", err)
	}
}

// startSubmission serves submission over e's store on loopback.
func (e *testEnv) startSubmission() string {
	e.t.Helper()
	srv := smtp.NewSubmission(e.svc, smtp.SubmissionOptions{Options: smtp.Options{Hostname: "mail.example.org",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go srv.Serve(ln)
	e.t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return ln.Addr().String()
}

// waitEvent waits for the next event and fails unless it is want.
func nextEvent(t *testing.T, events <-chan string) string {
	t.Helper()
	select {
	case got := <-events:
		return got
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return ""
}

func waitEvent(t *testing.T, events <-chan string, want string) {
	t.Helper()
	select {
	case got := <-events:
		if got != want {
			t.Fatalf("event %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no %q within 5 s", want)
	}
}

// A message sent through submission is in the sender's Sent folder,
// \Seen; when the mail app uploads its own copy there, the automatic one
// is expunged, and a session idling in Sent sees the upload arrive and
// the copy go. Uploads of other messages, or to other folders, keep
// everything.
func TestSentCopyThroughClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	subAddr := e.startSubmission()
	msg := crlf("From: Alice <alice@example.org>\nTo: x@remote.test\nBcc: hidden@remote.test\nSubject: report\n" +
		"Message-ID: <report-1@example.org>\nDate: Mon, 2 Jan 2023 15:04:05 +0000\n\nThe report.\n")

	events := make(chan string, 16)
	idler := e.clientWith("alice", &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { events <- fmt.Sprintf("EXPUNGE %d", seq) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				events <- fmt.Sprintf("EXISTS %d", *d.NumMessages)
			}
		},
	})
	if sel, err := idler.Select("Sent", nil).Wait(); err != nil || sel.NumMessages != 0 {
		t.Fatalf("SELECT Sent: %+v, %v", sel, err)
	}
	idle, err := idler.Idle()
	if err != nil {
		t.Fatal(err)
	}

	e.submitAs("alice", subAddr, []string{"x@remote.test", "hidden@remote.test"}, msg)
	waitEvent(t, events, "EXISTS 1")

	app := e.client("alice")
	sel, err := app.Select("Sent", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("SELECT Sent after submission: %+v, %v", sel, err)
	}
	auto := fetchOne(t, app, imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Flags: true, Envelope: true,
		BodySection: []*imap.FetchItemBodySection{{}}})
	body := string(auto.BodySection[0].Bytes)
	if !slices.Equal(auto.Flags, []imap.Flag{imap.FlagSeen}) || auto.Envelope.MessageID != "report-1@example.org" ||
		!strings.HasSuffix(body, msg) || !strings.Contains(body, "Received: from client.example.net") {
		t.Fatalf("automatic copy: UID %d flags %v envelope %+v body:\n%s", auto.UID, auto.Flags, auto.Envelope, body)
	}
	if err := app.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}

	// The mail app's upload, as Thunderbird makes it: the message it
	// submitted, \Seen.
	uid := appendRaw(t, app, "Sent", []byte(msg), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	if uid == auto.UID {
		t.Fatalf("APPENDUID %d is the automatic copy's", uid)
	}
	// The upload came in and the copy went, in one commit announced as
	// two changes: an IDLE poll between them says EXISTS 2 then EXPUNGE
	// 1, one after both EXPUNGE 1 then EXISTS 1 (EXISTS is put off to the
	// end of a poll). Either tells the client the same.
	first := nextEvent(t, events)
	switch second := nextEvent(t, events); {
	case first == "EXISTS 2" && second == "EXPUNGE 1", first == "EXPUNGE 1" && second == "EXISTS 1":
	default:
		t.Fatalf("events %q, %q after the upload", first, second)
	}

	// Uploads that are not the same message to Sent keep everything.
	other := strings.Replace(msg, "report-1@", "report-2@", 1)
	uid2 := appendRaw(t, app, "Sent", []byte(other), nil)
	waitEvent(t, events, "EXISTS 2")
	appendRaw(t, app, "Drafts", []byte(msg), nil)

	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected %q", ev)
	default:
	}
	msgs, err := idler.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%d %v %s", m.UID, m.Flags, m.Envelope.MessageID))
	}
	// Both came while this session had Sent selected: \Recent to it.
	want := []string{fmt.Sprintf("%d [\\Seen \\Recent] report-1@example.org", uid), fmt.Sprintf("%d [\\Recent] report-2@example.org", uid2)}
	if !slices.Equal(got, want) {
		t.Errorf("Sent holds %q, want %q", got, want)
	}
	st, err := app.Status("Drafts", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Errorf("Drafts: %+v, %v", st, err)
	}
}

// bob's upload of a message with alice's Message-ID to his own Sent
// leaves alice's copy alone.
func TestSentCopyOtherAccountUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	subAddr := e.startSubmission()
	msg := crlf("From: alice@example.org\nTo: x@remote.test\nSubject: s\nMessage-ID: <shared@example.org>\n\nbody\n")
	e.submitAs("alice", subAddr, []string{"x@remote.test"}, msg)
	bob := e.client("bob")
	appendRaw(t, bob, "Sent", []byte(strings.Replace(msg, "alice@", "bob@", 1)), nil)
	for user, want := range map[string]uint32{"alice": 1, "bob": 1} {
		c := e.client(user)
		st, err := c.Status("Sent", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != want {
			t.Errorf("%s's Sent: %+v, %v; want %d messages", user, st, err, want)
		}
	}
}

// The uploading session itself may have Sent selected: it is told of its
// upload and of the expunge, in that order, and its view stays right.
func TestSentCopyUploadWithSentSelected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	subAddr := e.startSubmission()
	msg := crlf("From: alice@example.org\nTo: x@remote.test\nSubject: s\nMessage-ID: <sel@example.org>\n\nbody\n")
	e.submitAs("alice", subAddr, []string{"x@remote.test"}, msg)
	a := e.raw("alice")
	contains(t, a.ok("SELECT Sent"), "* 1 EXISTS")
	tag := a.send(fmt.Sprintf(`APPEND Sent (\Seen) {%d}`, len(msg)))
	if l := a.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: no continuation: %q", l)
	}
	io.WriteString(a.c, msg+"\r\n")
	u, st := a.until(tag)
	if !regexp.MustCompile(`^OK \[APPENDUID \d+ 2\]`).MatchString(st) {
		t.Errorf("APPEND: %s, want APPENDUID with UID 2", st)
	}
	// The updates come after the command: the copy's EXPUNGE, then the
	// count after both.
	u = append(u, a.ok("NOOP")...)
	if i, j := slices.Index(u, "* 1 EXPUNGE"), slices.Index(u, "* 1 EXISTS"); i < 0 || j < i {
		t.Errorf("updates %q, want * 1 EXPUNGE, then * 1 EXISTS", u)
	}
	contains(t, a.ok("FETCH 1:* (UID FLAGS)"), `* 1 FETCH (UID 2 FLAGS (\Seen \Recent))`)
	if u := a.ok("FETCH 1:* UID"); len(u) != 1 {
		t.Errorf("Sent holds %q, want one message", u)
	}
}
