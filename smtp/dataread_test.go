package smtp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"

	gosmtp "github.com/emersion/go-smtp"
)

// bareNewlineBodies are message texts, each sent after DATA exactly as
// written and followed by the end of data, that have a CR or LF outside a
// CRLF. Some also hide an end of data or a whole second transaction
// behind a bare CR or LF, as SMTP smuggling does.
var bareNewlineBodies = map[string]string{
	"CR before the terminator":                "Subject: a\r\n\r\nbody\r\r\n",
	"CR inside a line":                        "Subject: b\r\n\r\na\rb\r\n",
	"LF inside a line":                        "Subject: c\r\n\r\na\nb\r\n",
	"CR after a leading dot":                  "Subject: d\r\n\r\n\r\n.\rX\r\n",
	"dot CR CR LF":                            "Subject: e\r\n\r\n.\r\r\n",
	"LF dot LF smuggling":                     "Subject: f\r\n\r\nhi\n.\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n",
	"CR dot CR smuggling":                     "Subject: g\r\n\r\nhi\r.\rMAIL FROM:<evil@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n",
	"CRLF dot LF smuggling":                   "Subject: h\r\n\r\nhi\r\n.\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n",
	"LF dot CRLF smuggling":                   "Subject: i\r\n\r\nhi\n.\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n",
	"bare LF line endings":                    "Subject: j\n\nbody\r\n",
	"CR at the very start":                    "\rSubject: k\r\n\r\nx\r\n",
	"LF at the very end of a line before dot": "Subject: l\r\n\r\nx\n\r\n",
}

// rawData runs MAIL, RCPT and DATA on a raw connection and sends body as
// it is, then the end of data, and returns the reply to the end of data.
// The connection's deadline (rawConn: 10 s) turns a server that misses
// the end into a failure.
func rawData(t *testing.T, tc *textproto.Conn, nc net.Conn, from, rcpt, body string) (int, string) {
	t.Helper()
	cmd(t, tc, "MAIL FROM:<"+from+">", 250)
	cmd(t, tc, "RCPT TO:<"+rcpt+">", 250)
	cmd(t, tc, "DATA", 354)
	if _, err := io.WriteString(nc, body+".\r\n"); err != nil {
		t.Fatal(err)
	}
	code, msg, err := tc.ReadResponse(0)
	if err != nil && code == 0 {
		t.Fatalf("no reply to the end of data: %v", err)
	}
	return code, msg
}

func wantBareRefused(t *testing.T, name string, code int, msg string) {
	t.Helper()
	if code != 550 || !strings.HasPrefix(msg, "5.6.0 Bare CR or LF") {
		t.Errorf("%s: got %d %q, want 550 5.6.0", name, code, msg)
	}
}

// Bare CR and LF are refused with 550 5.6.0 at the real end of data, the
// session goes on, nothing is stored, and a correct message is stored
// byte for byte.
func TestMXRefusesBareNewlines(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	for name, body := range bareNewlineBodies {
		code, msg := rawData(t, tc, nc, "zoe@example.net", "alice@example.org", body)
		wantBareRefused(t, name, code, msg)
	}
	// The session goes on: RSET, NOOP and a correct message work, with
	// dot-stuffed lines unstuffed and nothing else changed.
	cmd(t, tc, "RSET", 250)
	cmd(t, tc, "NOOP", 250)
	good := "Subject: good\r\n\r\nline\r\n..\r\n...x\r\n\r\ntab\tend \r\n"
	if code, msg := rawData(t, tc, nc, "zoe@example.net", "alice@example.org", good); code != 250 {
		t.Fatalf("good message: %d %s", code, msg)
	}
	if got, want := lastMessage(t, e, "alice@example.org"), "Subject: good\r\n\r\nline\r\n.\r\n..x\r\n\r\ntab\tend \r\n"; !strings.HasSuffix(got, want) {
		t.Errorf("stored %q, want it to end with %q", got, want)
	}
	if n := inboxCount(t, e, "alice@example.org"); n != 1 {
		t.Errorf("alice has %d messages, want only the good one", n)
	}
	if n := inboxCount(t, e, "bob@example.org"); n != 0 {
		t.Errorf("a smuggled message reached bob (%d messages)", n)
	}
}

// The message may come in the same packet as DATA (before the 354), in
// pieces of one byte, and the end of data may be split anywhere.
func TestMXDataFraming(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<alice@example.org>", 250)
	io.WriteString(nc, "DATA\r\nSubject: early\r\n\r\nbefore the 354\r\n.\r\nNOOP\r\n")
	for _, want := range []int{354, 250, 250} {
		if code, msg, err := tc.ReadResponse(want); err != nil {
			t.Fatalf("got %d %s, want %d", code, msg, want)
		}
	}
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<bob@example.org>", 250)
	cmd(t, tc, "DATA", 354)
	msg := "Subject: bytes\r\n\r\n.dot\r\nend\r\n.\r\n"
	for i := range len(msg) {
		if _, err := nc.Write([]byte{msg[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if code, text, err := tc.ReadResponse(250); err != nil {
		t.Fatalf("byte by byte: %d %s", code, text)
	}
	if got := lastMessage(t, e, "alice@example.org"); !strings.HasSuffix(got, "\r\n\r\nbefore the 354\r\n") {
		t.Errorf("early message stored as %q", got)
	}
	if got := lastMessage(t, e, "bob@example.org"); !strings.HasSuffix(got, "\r\n\r\ndot\r\nend\r\n") {
		t.Errorf("byte-by-byte message stored as %q", got)
	}
}

// After STARTTLS go-smtp reads through a new text stream: the framing
// holds there too.
func TestMXBareNewlineOverSTARTTLS(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	cmd(t, tc, "STARTTLS", 220)
	tlsConn := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
	if err := tlsConn.Handshake(); err != nil {
		t.Fatal(err)
	}
	tc = textproto.NewConn(tlsConn)
	cmd(t, tc, "EHLO client.example.net", 250)
	code, msg := rawData(t, tc, tlsConn, "zoe@example.net", "alice@example.org", "Subject: tls\r\n\r\nbody\r\r\n")
	wantBareRefused(t, "over TLS", code, msg)
	if code, msg := rawData(t, tc, tlsConn, "zoe@example.net", "alice@example.org", "Subject: tls\r\n\r\nfine\r\n"); code != 250 {
		t.Fatalf("good message over TLS: %d %s", code, msg)
	}
	if n := inboxCount(t, e, "alice@example.org"); n != 1 {
		t.Errorf("alice has %d messages, want 1", n)
	}
}

// A line beyond the 64 KiB limit is refused with 554 5.6.0 once the
// whole message has been read, and the session goes on. (go-smtp's own
// limit stops reading mid-message and closes the connection, and the
// client, still sending, gets a reset instead of the reply.)
func TestMXLongLineKeepsSession(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	for _, body := range []string{
		"Subject: long\r\n\r\n" + strings.Repeat("x", 100_000) + "\r\n",
		"Subject: long and bare\r\n\r\n" + strings.Repeat("x\n", 40_000) + "\r\n",
	} {
		code, msg := rawData(t, tc, nc, "zoe@example.net", "alice@example.org", body)
		if code/100 != 5 || !strings.HasPrefix(msg, "5.6.0 ") {
			t.Errorf("%.30q...: got %d %s, want 5xx 5.6.0", body, code, msg)
		}
	}
	if code, msg := rawData(t, tc, nc, "zoe@example.net", "alice@example.org", "Subject: fine\r\n\r\n"+strings.Repeat("y", 60_000)+"\r\n"); code != 250 {
		t.Fatalf("message with a 60 000-octet line: %d %s", code, msg)
	}
	if n := inboxCount(t, e, "alice@example.org"); n != 1 {
		t.Errorf("alice has %d messages, want 1", n)
	}
}

// BDAT chunks are not dot-stuffed, but bare CR or LF in them is refused
// as well, after the last chunk.
func TestBDATRefusesBareNewlines(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<carol@example.org>", 250)
	part1, part2 := "Subject: chunks\r\n\r\nfirst\r", "\nsecond\r.\rthird\r\n"
	fmt.Fprintf(nc, "BDAT %d\r\n%s", len(part1), part1)
	if _, _, err := tc.ReadResponse(250); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(nc, "BDAT %d LAST\r\n%s", len(part2), part2)
	code, msg, _ := tc.ReadResponse(0)
	wantBareRefused(t, "BDAT", code, msg)
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<carol@example.org>", 250)
	ok := "Subject: chunks\r\n\r\nfine\r\n"
	fmt.Fprintf(nc, "BDAT %d LAST\r\n%s", len(ok), ok)
	if code, msg, err := tc.ReadResponse(250); err != nil {
		t.Fatalf("good BDAT: %d %s", code, msg)
	}
	if n := inboxCount(t, e, "carol@example.org"); n != 1 {
		t.Errorf("carol has %d messages, want 1", n)
	}
}

// subRaw opens a raw submission connection logged in as alice.
func subRaw(t *testing.T, e *subEnv) (*textproto.Conn, net.Conn) {
	t.Helper()
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	cmd(t, tc, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00alice-pw")), 235)
	return tc, nc
}

func TestSubmissionRefusesBareNewlines(t *testing.T) {
	t.Parallel()
	e := startSubmission(t, 0)
	tc, nc := subRaw(t, e)
	for name, body := range bareNewlineBodies {
		for _, rcpt := range []string{"bob@example.org", "friend@remote.test"} {
			code, msg := rawData(t, tc, nc, "alice@example.org", rcpt, body)
			wantBareRefused(t, name+" to "+rcpt, code, msg)
		}
	}
	if q := e.queue(t); len(q) != 0 {
		t.Errorf("queued %d messages", len(q))
	}
	if n := len(e.inbox(t, "bob@example.org")); n != 0 {
		t.Errorf("bob has %d messages", n)
	}
	if code, msg := rawData(t, tc, nc, "alice@example.org", "friend@remote.test", plainMsg); code != 250 {
		t.Fatalf("good message: %d %s", code, msg)
	}
	if q := e.queue(t); len(q) != 1 {
		t.Errorf("queued %d messages, want the good one", len(q))
	}
}

// SIZE values beyond go-smtp's 32-bit parse are still sizes (RFC 1870:
// up to 20 digits) and get 552; what is not a size keeps 501.
func TestMailSizeParameter(t *testing.T) {
	t.Parallel()
	mx := startMX(t, envOptions{})
	sub := startSubmission(t, 0)
	mxConn := func() (*textproto.Conn, net.Conn) {
		tc, nc := rawConn(t, mx.addr)
		cmd(t, tc, "EHLO client.example.net", 250)
		return tc, nc
	}
	subConn := func() (*textproto.Conn, net.Conn) { return subRaw(t, sub) }
	for name, open := range map[string]func() (*textproto.Conn, net.Conn){"mx": mxConn, "submission": subConn} {
		tc, _ := open()
		from := "MAIL FROM:<alice@example.org>"
		for _, c := range []struct {
			params string
			code   int
			status string
		}{
			{" SIZE=999999999999", 552, "5.3.4"},
			{" SIZE=4294967296", 552, "5.3.4"},
			{" size=99999999999999999999", 552, "5.3.4"},
			{" BODY=8BITMIME SIZE=99999999999999999999", 552, "5.3.4"},
			{" SIZE=4294967295", 552, "5.3.4"}, // go-smtp's own check
			{" SIZE=999999999999999999999", 501, "5.5.4"},
			{" SIZE=abc", 501, "5.5.4"},
			{" SIZE=-1", 501, "5.5.4"},
			{" SIZE=", 501, "5.5.4"},
			{" SIZE=1000 BODY=8BITMIME", 250, "2.0.0"},
		} {
			if err := tc.PrintfLine("%s", from+c.params); err != nil {
				t.Fatal(err)
			}
			code, msg, err := tc.ReadResponse(0)
			if err != nil && code == 0 {
				t.Fatal(err)
			}
			if code != c.code || !strings.HasPrefix(msg, c.status+" ") {
				t.Errorf("%s: MAIL%s: got %d %s, want %d %s", name, c.params, code, msg, c.code, c.status)
			}
			if code == 250 {
				cmd(t, tc, "RSET", 250)
			}
		}
		// The transaction after them works.
		cmd(t, tc, "MAIL FROM:<alice@example.org> SIZE=20", 250)
		cmd(t, tc, "RCPT TO:<bob@example.org>", 250)
	}
}

// The accessor into go-smtp finds what it expects in this version of
// go-smtp. When this fails after an upgrade, see wire.go.
func TestWireLayout(t *testing.T) {
	t.Parallel()
	if !wireSupported() {
		t.Fatal("go-smtp's Conn has no field text *textproto.Conn")
	}
	type seen struct {
		wire, dotReader, lineLimit bool
	}
	got := make(chan seen, 1)
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &layoutSession{wire: newWire(c, 1<<20), got: func(w *wire, r io.Reader) {
			ll := lineLimit(c)
			got <- seen{wire: w.current(), dotReader: isDotReader(r), lineLimit: ll != nil && *ll == maxLineLength}
		}}, nil
	}))
	srv.MaxLineLength = maxLineLength
	srv.ErrorLog = slogAdapter{discardLogger()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c := dial(t, ln.Addr().String())
	if err := send(c, "a@example.net", []string{"b@example.net"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	if s := <-got; !s.wire || !s.dotReader || !s.lineLimit {
		t.Fatalf("wire installed %v, DATA reader recognised %v, line limit found %v: go-smtp's internals changed",
			s.wire, s.dotReader, s.lineLimit)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type layoutSession struct {
	wire *wire
	got  func(*wire, io.Reader)
}

func (s *layoutSession) Reset()                                 {}
func (s *layoutSession) Logout() error                          { return nil }
func (s *layoutSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *layoutSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *layoutSession) Data(r io.Reader) error                 { s.got(s.wire, r); return nil }

// Without the wire (an unexpected go-smtp layout), DATA still refuses
// what go-smtp's reader lets through with a bare CR or LF.
func TestReadMessageFallback(t *testing.T) {
	t.Parallel()
	var w *wire
	for name, body := range bareNewlineBodies {
		var buf bytes.Buffer
		buf.WriteString("trace\r\n")
		if _, err := w.readMessage(strings.NewReader(body), &buf, 1<<20); err != errBareNewline {
			t.Errorf("%s: %v, want the bare newline error", name, err)
		}
		if buf.String() != "trace\r\n" {
			t.Errorf("%s: %q left in the buffer", name, buf.String())
		}
	}
	var buf bytes.Buffer
	if n, err := w.readMessage(iotest.OneByteReader(strings.NewReader(plainMsg)), &buf, 1<<20); err != nil || n != int64(len(plainMsg)) || buf.String() != plainMsg {
		t.Errorf("good message: %d %v %q", n, err, buf.String())
	}
	if _, err := w.readMessage(iotest.ErrReader(errors.New("cut")), &buf, 1<<20); err == nil {
		t.Error("a read error went unnoticed")
	}
}

// FuzzReadDotted: whatever the input, readDotted stops at the first
// RFC 5321 end of data (CRLF "." CRLF, the first CRLF being the end of
// the DATA line) and leaves it unread, and what it accepts is the
// unstuffed text, in CRLF lines only.
func FuzzReadDotted(f *testing.F) {
	for _, body := range bareNewlineBodies {
		f.Add(body + ".\r\n")
	}
	f.Add("Subject: x\r\n\r\n..a\r\n.\r\nMAIL FROM:<a@b>\r\n")
	f.Add(".\r\n")
	f.Add("a\r\r\n.\r\r\n.\r\n")
	f.Add(strings.Repeat("x", 41) + "\r\n.\r\n")
	f.Add("." + strings.Repeat("x", 40) + "\r\n.\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), 16)
		var dst bytes.Buffer
		const maxLine = 40
		n, err := readDotted(br, &dst, 1<<20, maxLine)
		rest, _ := io.ReadAll(br)
		used := in[:len(in)-len(rest)]
		end := strings.Index("\r\n"+in, "\r\n.\r\n")
		framed := err == nil || err == errBareNewline || err == gosmtp.ErrTooLongLine
		if end < 0 {
			if framed {
				t.Fatalf("no end of data in %q, but %v", in, err)
			}
			return
		}
		if !framed {
			t.Fatalf("%q: %v", in, err)
		}
		if used != in[:end] {
			t.Fatalf("%q: stopped after %q, want %q", in, used, in[:end])
		}
		long := false
		for _, l := range strings.Split(used, "\r\n") {
			long = long || len(strings.TrimPrefix(l, ".")) > maxLine // less the stuffing dot
		}
		switch {
		case err == nil:
			want := strings.ReplaceAll("\r\n"+used, "\r\n.", "\r\n")[2:]
			if dst.String() != want || n != int64(len(want)) || hasBareNewline(dst.Bytes()) || long {
				t.Fatalf("%q: accepted %q (%d), want %q", in, dst.String(), n, want)
			}
		case err == errBareNewline && !hasBareNewline([]byte(used)):
			t.Fatalf("%q: refused without a bare CR or LF", in)
		case err == gosmtp.ErrTooLongLine && (hasBareNewline([]byte(used)) || !long):
			t.Fatalf("%q: refused as too long", in)
		}
	})
}
