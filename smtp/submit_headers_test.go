package smtp

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// sendUTF8 runs one transaction with SMTPUTF8.
func sendUTF8(c *gosmtp.Client, from string, to []string, msg string) error {
	if err := c.Mail(from, &gosmtp.MailOptions{UTF8: true}); err != nil {
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
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	return w.Close()
}

// A From or Sender field naming an address the account may not use is
// refused after DATA, and nothing is stored or queued.
func TestSubmissionHeaderAuthorNotOwned(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	for _, msg := range []string{
		"From: ceo@example.org\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nx\r\n",
		"From: Alice <alice@example.org>\r\nSender: bob@example.org\r\nSubject: s\r\n\r\nx\r\n",
		"Subject: s\r\nFROM : \"alice@example.org\" <Bob@Example.Org>\r\n\r\nx\r\n",
		"From: alice@example.org, ceo@remote.test\r\nSender: alice@example.org\r\n\r\nx\r\n",
		"From: alice@example.org\r\nsender:\r\n <ceo@remote.test>\r\n\r\nx\r\n",
	} {
		err := send(c, "alice@example.org", []string{"bob@example.org", "x@remote.test"}, msg)
		subWantCode(t, msg, err, 550, gosmtp.EnhancedCode{5, 7, 1})
		if se := err.(*gosmtp.SMTPError); !strings.Contains(se.Message, "not an address this account may use") {
			t.Errorf("reply text %q", se.Message)
		}
	}
	if n := len(e.inbox(t, "bob@example.org")); n != 0 {
		t.Errorf("bob got %d messages", n)
	}
	if q := e.queue(t); len(q) != 0 {
		t.Errorf("queued %+v", q)
	}
	wantSub(t, "log", e.log.String(), "header address not owned", "address=ceo@example.org", "field=Sender")
}

// A header that cannot be read as far as its authors is refused as bad
// content.
func TestSubmissionHeaderAuthorMalformed(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	for _, msg := range []string{
		"From: alice@example.org\r\nFrom: alice@example.org\r\n\r\nx\r\n",
		"From: alice@example.org (\r\n\r\nx\r\n",
		"From: alice@example.org, alice@example.org\r\n\r\nx\r\n",
		"From: undisclosed:;\r\n\r\nx\r\n",
		"From: alice@example.org\r\nSender: alice@example.org, alice@example.org\r\n\r\nx\r\n",
		"From: alice@example.org\r\nSender: a@b\r\nSender: alice@example.org\r\n\r\nx\r\n",
		"From: " + strings.Repeat("a", maxAuthorField) + "@example.org\r\n\r\nx\r\n",
		"From: <alice@[127.0.0.1]>\r\n\r\nx\r\n",
	} {
		subWantCode(t, clip(msg, 80), send(c, "alice@example.org", []string{"bob@example.org"}, msg), 554, gosmtp.EnhancedCode{5, 6, 0})
	}
	if n := len(e.inbox(t, "bob@example.org")); n != 0 {
		t.Errorf("bob got %d messages", n)
	}
}

// Addresses the account owns pass, with display names, encoded words,
// any case, aliases and SMTPUTF8 addresses; a missing From is added.
func TestSubmissionHeaderAuthorOwned(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	ctx := context.Background()
	if err := e.svc.AddUser(ctx, "jörg@example.org", "jörg-pw"); err != nil {
		t.Fatal(err)
	}
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	for _, msg := range []string{
		plainMsg,
		"From: =?utf-8?q?Alice_L=C3=B6w?= <ALICE@Example.Org>\r\nSubject: s\r\n\r\nx\r\n",
		"From: alice@example.org, team@example.org\r\nSender: Alice <alice@example.org>\r\n\r\nx\r\n",
		"From: \"Alice, Team\" <team@example.org>\r\n\r\nx\r\n",
	} {
		if err := send(c, "alice@example.org", []string{"bob@example.org"}, msg); err != nil {
			t.Errorf("%q: %v", msg, err)
		}
	}
	c2 := subLogin(t, e.addr, "jörg@example.org", "jörg-pw")
	if err := sendUTF8(c2, "jörg@example.org", []string{"bob@example.org"}, "From: Jörg Müller <JÖRG@EXAMPLE.ORG>\r\nSubject: ü\r\n\r\nx\r\n"); err != nil {
		t.Fatalf("SMTPUTF8 From: %v", err)
	}
	if err := send(c, "alice@example.org", []string{"bob@example.org"}, "Subject: no from\r\n\r\nFrom: not a header\r\n"); err != nil {
		t.Fatal(err)
	}
	inbox := e.inbox(t, "bob@example.org")
	if len(inbox) != 6 {
		t.Fatalf("bob has %d messages", len(inbox))
	}
	wantSub(t, "added From", inbox[5], "\r\nFrom: <alice@example.org>\r\nSubject: no from\r\n\r\nFrom: not a header\r\n")
	wantSub(t, "utf-8 From", inbox[4], "From: Jörg Müller <JÖRG@EXAMPLE.ORG>\r\n")
}

// Bcc fields, folded or not, in any case, leave neither the local copy
// nor the queued one; the body is untouched, and Message-ID and Date are
// still added.
func TestSubmissionRemovesBcc(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	c := subLogin(t, e.addr, "alice@example.org", "alice-pw")
	msg := "Bcc: first@remote.test\r\n" +
		"From: Alice <alice@example.org>\r\n" +
		"To: bob@example.org\r\n" +
		"bcc: hidden@remote.test,\r\n\tsecret@remote.test\r\n" +
		"Subject: s\r\n" +
		"BCC : last@remote.test\r\n" +
		"\r\n" +
		"Bcc: part of the body\r\n"
	if err := send(c, "alice@example.org", []string{"bob@example.org", "hidden@remote.test"}, msg); err != nil {
		t.Fatal(err)
	}
	want := "Message-ID: <"
	inbox := e.inbox(t, "bob@example.org")
	if len(inbox) != 1 {
		t.Fatalf("bob has %d messages", len(inbox))
	}
	q := e.queue(t)
	if len(q) != 1 {
		t.Fatalf("queue %+v", q)
	}
	queued, err := e.db.BlobData(context.Background(), q[0].BlobID)
	if err != nil {
		t.Fatal(err)
	}
	for what, got := range map[string]string{"local": inbox[0], "queued": string(queued)} {
		header, body, _ := strings.Cut(got, "\r\n\r\n")
		if strings.Contains(strings.ToLower(header), "bcc") || strings.Contains(got, "remote.test") {
			t.Errorf("%s copy keeps Bcc:\n%s", what, got)
		}
		if body != "Bcc: part of the body\r\n" {
			t.Errorf("%s body %q", what, body)
		}
		wantSub(t, what, header, want, "Date: Tue, 24 Nov 2026", "\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: s")
	}
}

func TestScanHeader(t *testing.T) {
	t.Parallel()
	msg := []byte("A: 1\r\n\tcont\r\nno colon\r\nB : 2\r\n\r\nC: body\r\n")
	fields, end := scanHeader(msg, nil)
	var names []string
	for _, f := range fields {
		names = append(names, f.name+"="+string(msg[f.start:f.end]))
	}
	want := []string{"A=A: 1\r\n\tcont\r\n", "=no colon\r\n", "B=B : 2\r\n"}
	if strings.Join(names, "|") != strings.Join(want, "|") || string(msg[end:]) != "\r\nC: body\r\n" {
		t.Errorf("fields %q, body %q", names, msg[end:])
	}
	if fields, end := scanHeader([]byte("A: 1"), nil); len(fields) != 1 || end != 4 {
		t.Errorf("no body: %v %d", fields, end)
	}
	// A continuation of a field not kept extends nothing.
	fields, _ = scanHeader([]byte("Bcc: a\r\nTo: b\r\n\tc\r\n\r\n"), submitFields)
	if len(fields) != 1 || fields[0].end != 8 {
		t.Errorf("kept %+v", fields)
	}
}

// Removing Bcc keeps every other field, in order, and the body as they
// were, and leaves no Bcc field; reading the authors never panics.
func FuzzSubmitHeader(f *testing.F) {
	for _, s := range []string{
		"From: a@b\r\nBcc: x\r\n\ty\r\nTo: c\r\n\r\nBcc: body\r\n",
		" Bcc: first\r\nbcc : x\r\nSender: <s@t>\r\nFrom: \"q\" <a@b>, c@d\r\n\r\n",
		"From: =?utf-8?q?J=C3=B6rg?= <jörg@bücher.example>\r\nSubject: x",
		"no colon\r\n\tcont\r\nBCC:\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, err := readSubmitHeader(msg)
		if err != nil {
			h = &submitHeader{}
			h.fields, h.end = scanHeader(msg, submitFields)
		}
		var buf bytes.Buffer
		writeWithoutBcc(&buf, msg, h)
		out := buf.Bytes()
		all, _ := scanHeader(msg, nil)
		fields, end := scanHeader(out, nil)
		var want, got []string
		for _, f := range all {
			if !f.is("bcc") {
				want = append(want, string(msg[f.start:f.end]))
			}
		}
		for _, f := range fields {
			if f.is("bcc") {
				t.Fatalf("Bcc left in %q", out)
			}
			got = append(got, string(out[f.start:f.end]))
		}
		if !slices.Equal(got, want) || !bytes.Equal(out[end:], msg[h.end:]) {
			t.Fatalf("%q became %q", msg, out)
		}
	})
}
