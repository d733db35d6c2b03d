package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"
)

// firstReplyLine sends line and returns the first line of the reply.
func firstReplyLine(t *testing.T, tc *textproto.Conn, line string) string {
	t.Helper()
	if err := tc.PrintfLine("%s", line); err != nil {
		t.Fatal(err)
	}
	first, err := tc.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	for l := first; len(l) >= 4 && l[3] == '-'; {
		if l, err = tc.ReadLine(); err != nil {
			t.Fatal(err)
		}
	}
	return first
}

// The reply to EHLO and HELO starts with the server's name (RFC 5321
// 4.1.1.1): on the first EHLO of a connection, a later one, HELO, and
// the first EHLO after STARTTLS.
func TestEHLONamesServer(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	tc, nc := rawConn(t, e.addr)
	for _, c := range []struct{ cmd, want string }{
		{"EHLO client.example.net", "250-mx.example.org Hello client.example.net"},
		{"NOOP", "250 2.0.0 I have successfully done nothing"},
		{"ehlo again.example.net", "250-mx.example.org Hello again.example.net"},
		{"HELO old.example.net", "250 mx.example.org Hello old.example.net"},
		{"EHLO [127.0.0.1]", "250-mx.example.org Hello [127.0.0.1]"},
	} {
		if got := firstReplyLine(t, tc, c.cmd); got != c.want {
			t.Errorf("%s: got %q, want %q", c.cmd, got, c.want)
		}
	}
	cmd(t, tc, "STARTTLS", 220)
	tlsConn := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
	ttc := textproto.NewConn(tlsConn)
	if got, want := firstReplyLine(t, ttc, "EHLO tls.example.net"), "250-mx.example.org Hello tls.example.net"; got != want {
		t.Errorf("after STARTTLS: got %q, want %q", got, want)
	}
	cmd(t, ttc, "MAIL FROM:<zoe@example.net>", 250)

	// The same through go-smtp's client, on submission too.
	c := dial(t, e.addr)
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	s := startSubmission(t, 0)
	stc, _ := rawConn(t, s.addr)
	if got, want := firstReplyLine(t, stc, "EHLO c"), "250-mail.example.org Hello c"; got != want {
		t.Errorf("submission: got %q, want %q", got, want)
	}
}

// RCPT TO:<postmaster> without a domain reaches the primary domain's
// postmaster (RFC 5321 4.5.1), through go-smtp's client and raw.
func TestPostmasterWithoutDomain(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{opts: Options{PrimaryDomain: "Example.ORG"}})
	if err := e.svc.SetAlias(context.Background(), "postmaster@example.org", []string{"carol@example.org"}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, e.addr)
	if err := send(c, "zoe@example.net", []string{"postmaster"}, "Subject: one\r\n\r\nx\r\n"); err != nil {
		t.Fatalf("RCPT TO:<postmaster>: %v", err)
	}
	if got := lastMessage(t, e, "carol@example.org"); !strings.Contains(got, "for <postmaster@example.org>;") {
		t.Errorf("stored as:\n%s", got)
	}
	tc, _ := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	for _, rcpt := range []string{"RCPT TO:<PostMaster>", "rcpt to: \t<postmaster> NOTIFY=NEVER", "RCPT  TO:<postmaster>",
		"RCPT TO:<postmaster> X-UNKNOWN=1"} {
		code := 250
		if strings.Contains(rcpt, "X-UNKNOWN") {
			code = 500 // go-smtp parsed the parameter after the path
		}
		cmd(t, tc, rcpt, code)
	}
	cmd(t, tc, "RCPT TO:<postmaster@>", 501)
	cmd(t, tc, "RCPT TO:<postmasterx>", 501)
	cmd(t, tc, "DATA", 354)
	cmd(t, tc, "Subject: two\r\n\r\nx\r\n.", 250)
	if n := inboxCount(t, e, "carol@example.org"); n != 2 {
		t.Errorf("carol has %d messages", n)
	}

	// Without a primary domain, go-smtp's 501 stays.
	e2 := startMX(t, envOptions{})
	tc2, _ := rawConn(t, e2.addr)
	cmd(t, tc2, "EHLO client.example.net", 250)
	cmd(t, tc2, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc2, "RCPT TO:<postmaster>", 501)
}

// Message content is never rewritten: not in DATA, not in BDAT chunks,
// also when a chunk's command is refused.
func TestWireLeavesContentAlone(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{opts: Options{PrimaryDomain: "example.org"}})
	body := "Subject: s\r\n\r\nRCPT TO:<postmaster>\r\nEHLO x\r\n"
	c := dial(t, e.addr)
	if err := send(c, "zoe@example.net", []string{"carol@example.org"}, body); err != nil {
		t.Fatal(err)
	}
	if got := lastMessage(t, e, "carol@example.org"); !strings.HasSuffix(got, "\r\n"+body) {
		t.Errorf("DATA stored as:\n%q", got)
	}

	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	// A refused BDAT: go-smtp reads its chunk anyway.
	junk := "RCPT TO:<postmaster>\r\n"
	fmt.Fprintf(nc, "BDAT %d\r\n%s", len(junk), junk)
	if _, _, err := tc.ReadResponse(502); err != nil {
		t.Fatal(err)
	}
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<carol@example.org>", 250)
	part1 := "Subject: chunks\r\n\r\nRCPT TO:<postmaster>"
	part2 := "\r\nRCPT TO:<postmaster>\r\n"
	fmt.Fprintf(nc, "BDAT %d\r\n%sBDAT %d  last\r\n%s", len(part1), part1, len(part2), part2)
	for range 2 {
		if _, _, err := tc.ReadResponse(250); err != nil {
			t.Fatal(err)
		}
	}
	if got := lastMessage(t, e, "carol@example.org"); !strings.HasSuffix(got, "\r\n"+part1+part2) {
		t.Errorf("BDAT stored as:\n%q", got)
	}
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<postmaster>", 550) // rewritten again, and no such user here
}

// The reader completes the command however the octets arrive, one at a
// time included, and passes DATA content and BDAT chunks through.
func TestLineReaderRewrites(t *testing.T) {
	t.Parallel()
	in := "EHLO x\r\nRCPT TO:<postmaster>\r\nRCPT TO:<postmaster@b>\r\nRCPT TO:<post\r\n" +
		"BDAT 22\r\nRCPT TO:<postmaster>\r\nBDAT 1 LAST\r\nR" + "RCPT TO:<Postmaster> X=1\r\nRCPT"
	want := "EHLO x\r\nRCPT TO:<postmaster@example.org>\r\nRCPT TO:<postmaster@b>\r\nRCPT TO:<post\r\n" +
		"BDAT 22\r\nRCPT TO:<postmaster>\r\nBDAT 1 LAST\r\nR" + "RCPT TO:<Postmaster@example.org> X=1\r\nRCPT"
	for name, src := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"one byte": iotest.OneByteReader(strings.NewReader(in)),
	} {
		lr := &lineReader{src: bufio.NewReader(src), primary: "example.org"}
		got, err := io.ReadAll(bufio.NewReader(lr))
		if err != nil || string(got) != want {
			t.Errorf("%s: got %q (%v), want %q", name, got, err, want)
		}
	}
	// DATA content, while readDotted reads it.
	lr := &lineReader{src: bufio.NewReader(strings.NewReader("RCPT TO:<postmaster>\r\n")), primary: "example.org"}
	lr.content(true)
	if got, _ := io.ReadAll(lr); string(got) != "RCPT TO:<postmaster>\r\n" {
		t.Errorf("content rewritten: %q", got)
	}
}

func TestMatchPostmaster(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in  string
		res int
	}{
		{"", pmMore}, {"r", pmMore}, {"RCPT TO:<postmaster", pmMore}, {"RCPT TO:<postmaster>", pmYes},
		{"rcpt   TO:\t<POSTMASTER>\r\n", pmYes}, {"RCPT TO:<postmaster@x>", pmNo}, {"MAIL", pmNo},
		{"RCPT TO:" + strings.Repeat(" ", maxPostmasterBlanks+1) + "<postmaster>", pmNo},
		{"RCPTTO:<postmaster>", pmNo},
	} {
		gt, res := matchPostmaster([]byte(c.in))
		if res != c.res || res == pmYes && c.in[gt] != '>' {
			t.Errorf("%q: %d at %d, want %d", c.in, res, gt, c.res)
		}
	}
}

// The reader hands over exactly what it read, but for the domain it adds
// to RCPT TO:<postmaster>, and never inside DATA content.
func FuzzLineReader(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nRCPT TO:<postmaster>\r\nBDAT 22\r\nRCPT TO:<postmaster>\r\nRCPT TO:<Postmaster> X\r\n",
		"BDAT 4294967295 LAST\r\nx", "RCPT \t TO: <postmaster>", "BDAT 3\r\nab\nRCPT TO:<postmaster>\n",
	} {
		f.Add([]byte(s), false)
	}
	const primary = "p.example"
	f.Fuzz(func(t *testing.T, in []byte, oneByte bool) {
		var src io.Reader = bytes.NewReader(in)
		if oneByte {
			src = iotest.OneByteReader(src)
		}
		lr := &lineReader{src: bufio.NewReader(src), primary: primary}
		out, err := io.ReadAll(bufio.NewReader(lr))
		if err != nil {
			t.Fatal(err)
		}
		undo := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("@"+primary+">"), []byte(">")) }
		if !bytes.Equal(undo(out), undo(in)) {
			t.Fatalf("%q became %q", in, out)
		}
		lr = &lineReader{src: bufio.NewReader(bytes.NewReader(in)), primary: primary}
		lr.content(true)
		if out, _ := io.ReadAll(lr); !bytes.Equal(out, in) {
			t.Fatalf("content %q became %q", in, out)
		}
	})
}
