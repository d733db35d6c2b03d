package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestSynchronisingLiteralContinuation(t *testing.T) {
	t.Parallel()
	tr := newTestReader("a LOGIN {3}\r\njoe {6}\r\nsecret\r\nb NOOP\r\n", Options{})
	c, err := tr.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if l := c.(*Login); l.Username != "joe" || l.Password != "secret" {
		t.Errorf("got %+v", l)
	}
	if tr.conts != 2 {
		t.Errorf("%d continuation requests, want 2", tr.conts)
	}
	if c, err := tr.ReadCommand(); err != nil || c.CommandName() != "NOOP" {
		t.Errorf("next command: %v, %v", c, err)
	}
}

func TestNonSynchronisingLiteralNoContinuation(t *testing.T) {
	t.Parallel()
	tr := newTestReader("a LOGIN {3+}\r\njoe {6+}\r\nsecret\r\n", Options{})
	if _, err := tr.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if tr.conts != 0 {
		t.Errorf("%d continuation requests for LITERAL+, want 0", tr.conts)
	}
}

// The case: before login, a huge synchronising literal is refused
// at once, without a continuation and without waiting for more bytes (the
// strictReader fails the read if the Reader tried).
func TestHugeLiteralBeforeAuthRefusedAtOnce(t *testing.T) {
	t.Parallel()
	tr := newTestReader("A1 LOGIN {999999999}\r\n", Options{})
	_, err := tr.ReadCommand()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want *Error", err)
	}
	if e.Tag != "A1" || !e.NO || e.Code != "TOOBIG" || e.Fatal {
		t.Errorf("got %+v, want A1 NO [TOOBIG], not fatal", e)
	}
	if tr.conts != 0 {
		t.Errorf("continuation sent for a refused literal")
	}
	// The connection goes on: the next command is read normally.
	tr2 := newTestReader("A1 LOGIN {999999999}\r\nA2 NOOP\r\n", Options{})
	tr2.ReadCommand()
	if c, err := tr2.ReadCommand(); err != nil || c.CommandTag() != "A2" {
		t.Errorf("after refusal: %v, %v", c, err)
	}
}

func TestLiteralLimitsByState(t *testing.T) {
	t.Parallel()
	in := "a LOGIN {9000}\r\n"
	tr := newTestReader(in, Options{MaxLiteralPreAuth: 8192})
	if _, err := tr.ReadCommand(); err == nil || err.(*Error).Code != "TOOBIG" {
		t.Errorf("pre-auth 9000 > 8192: %v", err)
	}
	tr = newTestReader("a LOGIN {9000}\r\n"+strings.Repeat("x", 9000)+" pw\r\n", Options{MaxLiteralPreAuth: 8192})
	tr.SetAuthenticated(true)
	if _, err := tr.ReadCommand(); err != nil {
		t.Errorf("authenticated 9000 <= 1 MiB: %v", err)
	}
}

func TestNonSyncLiteralOverLimit(t *testing.T) {
	t.Parallel()
	// Small enough to skip: not fatal, and the bytes are not taken for a
	// command.
	lit := strings.Repeat("Z NOOP\r\n", 2000) // 16000 bytes
	tr := newTestReader("a LOGIN {16000+}\r\n"+lit+" pw\r\nb NOOP\r\n", Options{MaxLiteralPreAuth: 100, MaxSkip: 20000})
	_, err := tr.ReadCommand()
	e := err.(*Error)
	if e.Fatal || e.Code != "TOOBIG" {
		t.Fatalf("got %+v", e)
	}
	if c, err := tr.ReadCommand(); err != nil || c.CommandTag() != "b" {
		t.Errorf("after skip: %v, %v", c, err)
	}
	// Too large to skip: fatal, and nothing more is read.
	tr = newTestReader("a LOGIN {999999999+}\r\n", Options{})
	_, err = tr.ReadCommand()
	if e := err.(*Error); !e.Fatal || e.Code != "TOOBIG" || e.Tag != "a" {
		t.Errorf("got %+v, want fatal TOOBIG", e)
	}
}

func TestLiteralMinus(t *testing.T) {
	t.Parallel()
	tr := newTestReader("a LOGIN {5000+}\r\n", Options{LiteralMinus: true, MaxSkip: 1})
	tr.SetAuthenticated(true)
	_, err := tr.ReadCommand()
	if e := err.(*Error); e.Code != "TOOBIG" || !e.Fatal || e.NO {
		t.Errorf("LITERAL- over 4096: %+v, want fatal BAD [TOOBIG]", e)
	}
	tr = newTestReader("a LOGIN {4+}\r\nuser pw\r\n", Options{LiteralMinus: true})
	if _, err := tr.ReadCommand(); err != nil {
		t.Errorf("LITERAL- 4 bytes: %v", err)
	}
}

func TestLineTooLongIsFatal(t *testing.T) {
	t.Parallel()
	in := "a1 LOGIN " + strings.Repeat("x", 1<<20) + "\r\n"
	tr := newTestReader(in, Options{MaxLineLength: 64 << 10})
	_, err := tr.ReadCommand()
	e, ok := err.(*Error)
	if !ok || !e.Fatal || e.Tag != "a1" || !strings.Contains(e.Reason, "Line too long") {
		t.Errorf("got %#v", err)
	}
}

func TestCommandSizeLimit(t *testing.T) {
	t.Parallel()
	// Each literal is within MaxLiteral, but together they pass
	// MaxCommandSize: refused before the third is read.
	lit := strings.Repeat("x", 600)
	in := "a SEARCH TEXT {600}\r\n" + lit + " TEXT {600}\r\n" + lit + " TEXT {600}\r\n"
	tr := newTestReader(in, Options{MaxLiteral: 1000, MaxCommandSize: 1500})
	tr.SetAuthenticated(true)
	_, err := tr.ReadCommand()
	if e, ok := err.(*Error); !ok || e.Code != "TOOBIG" {
		t.Errorf("got %v", err)
	}
	if tr.conts != 2 {
		t.Errorf("%d continuations, want 2", tr.conts)
	}
}

func TestResynchronisation(t *testing.T) {
	t.Parallel()
	in := "a1 FROB x y\r\n" +
		"a2 FETCH 0 FLAGS\r\n" +
		"a3 BLAH {5+}\r\nb1 X {3+}\r\nb2 Z\r\n" + // the literals' bytes are skipped
		"a5 NOOP\r\n"
	tr := newTestReader(in, Options{})
	tr.SetAuthenticated(true)
	for _, tag := range []string{"a1", "a2", "a3"} {
		_, err := tr.ReadCommand()
		if e, ok := err.(*Error); !ok || e.Tag != tag || e.Fatal {
			t.Fatalf("%s: got %v", tag, err)
		}
	}
	if c, err := tr.ReadCommand(); err != nil || c.CommandTag() != "a5" {
		t.Fatalf("after a3: %v, %v", c, err)
	}
	// An error found before a synchronising literal: no continuation, and
	// the client (waiting for one) sends its next command.
	tr = newTestReader("a4 SEARCH FOO {3}\r\na5 NOOP\r\n", Options{})
	if _, err := tr.ReadCommand(); err == nil {
		t.Fatal("a4 accepted")
	}
	if tr.conts != 0 {
		t.Error("continuation sent for a command already known to be bad")
	}
	if c, err := tr.ReadCommand(); err != nil || c.CommandTag() != "a5" {
		t.Errorf("a5: %v, %v", c, err)
	}
}

func TestUnknownCommandBeforeLogin(t *testing.T) {
	t.Parallel()
	tr := newTestReader("x XYZZY\r\ny CAPABILITY\r\n", Options{})
	if _, err := tr.ReadCommand(); err == nil || err.(*Error).Fatal {
		t.Fatalf("got %v", err)
	}
	if c, err := tr.ReadCommand(); err != nil || c.CommandName() != "CAPABILITY" {
		t.Errorf("got %v, %v", c, err)
	}
}

func TestAppendStreaming(t *testing.T) {
	t.Parallel()
	in := "a APPEND saved-messages (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {11}\r\nHello\r\nBob! ~{3+}\r\nA\x00B (\\Draft) {2}\r\nhi\r\nb NOOP\r\n"
	tr := newTestReader(in, Options{})
	tr.SetAuthenticated(true)
	c, err := tr.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if a := c.(*Append); a.Mailbox != "saved-messages" || a.NonSync {
		t.Errorf("mailbox %q, first literal non-synchronising %v", a.Mailbox, a.NonSync)
	}
	if tr.conts != 0 {
		t.Error("continuation sent before the session asked for the message")
	}
	var bodies []string
	for {
		m, err := tr.NextAppendMessage()
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			break
		}
		body, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(body))
		switch len(bodies) {
		case 1:
			if len(m.Flags) != 1 || m.Flags[0] != "\\Seen" || m.Time.Day() != 7 || m.Body.Binary {
				t.Errorf("first message %+v", m)
			}
		case 2:
			if !m.Body.Binary || !m.Body.NonSync || m.Flags != nil {
				t.Errorf("second message %+v", m)
			}
		}
	}
	want := []string{"Hello\r\nBob!", "A\x00B", "hi"}
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Errorf("bodies %q, want %q", bodies, want)
	}
	if tr.conts != 2 {
		t.Errorf("%d continuations, want 2", tr.conts)
	}
	if c, err := tr.ReadCommand(); err != nil || c.CommandTag() != "b" {
		t.Errorf("next: %v, %v", c, err)
	}
}

// An APPEND whose first line ends in {n+} says so: the session need not
// look for the folder before the message comes.
func TestAppendNonSyncFirstLiteral(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"a APPEND INBOX {3+}\r\nabc\r\n":                      true,
		"a APPEND INBOX (\\Seen) ~{3+}\r\nabc\r\n":            true,
		"a APPEND INBOX {3}\r\nabc\r\n":                       false,
		"a APPEND INBOX CATENATE (URL \"/INBOX/;UID=1\")\r\n": false,
	} {
		tr := newTestReader(in, Options{})
		tr.SetAuthenticated(true)
		c, err := tr.ReadCommand()
		if err != nil {
			t.Fatal(err)
		}
		if got := c.(*Append).NonSync; got != want {
			t.Errorf("%q: NonSync %v, want %v", in, got, want)
		}
	}
}

func TestAppendNULInNormalLiteral(t *testing.T) {
	t.Parallel()
	tr := newTestReader("a APPEND INBOX {3+}\r\nA\x00B\r\n", Options{})
	tr.SetAuthenticated(true)
	tr.ReadCommand()
	m, err := tr.NextAppendMessage()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(m.Body); !errors.Is(err, ErrNULInLiteral) {
		t.Errorf("got %v, want ErrNULInLiteral", err)
	}
}

func TestAppendAbandoned(t *testing.T) {
	t.Parallel()
	// The session refuses the mailbox before asking for the message: the
	// synchronising literal was never continued, so nothing is skipped.
	tr := newTestReader("a APPEND nosuch {5}\r\nb NOOP\r\n", Options{})
	tr.SetAuthenticated(true)
	tr.ReadCommand()
	if c, err := tr.ReadCommand(); err != nil || c.CommandTag() != "b" {
		t.Errorf("after sync refusal: %v, %v", c, err)
	}
	// With LITERAL+ the bytes are already coming and are skipped, as are
	// further messages of a MULTIAPPEND.
	tr = newTestReader("a APPEND nosuch {5+}\r\nb NOOP {3+}\r\nxyz\r\nc NOOP\r\n", Options{})
	tr.SetAuthenticated(true)
	tr.ReadCommand()
	if c, err := tr.ReadCommand(); err != nil || c.CommandTag() != "c" {
		t.Errorf("after non-sync refusal: %v, %v", c, err)
	}
	// Abandoned in the middle of a body.
	tr = newTestReader("a APPEND x {10+}\r\n0123456789\r\nc NOOP\r\n", Options{})
	tr.SetAuthenticated(true)
	tr.ReadCommand()
	m, _ := tr.NextAppendMessage()
	m.Body.Read(make([]byte, 4))
	if c, err := tr.ReadCommand(); err != nil || c.CommandTag() != "c" {
		t.Errorf("after partial body: %v, %v", c, err)
	}
}

func TestAppendTooBig(t *testing.T) {
	t.Parallel()
	tr := newTestReader("a APPEND INBOX {2000}\r\nb NOOP\r\n", Options{MaxAppendSize: 1000})
	tr.SetAuthenticated(true)
	tr.ReadCommand()
	_, err := tr.NextAppendMessage()
	if e, ok := err.(*Error); !ok || e.Code != "TOOBIG" || e.Tag != "a" || e.Fatal {
		t.Fatalf("got %v", err)
	}
	if tr.conts != 0 {
		t.Error("continuation sent for a refused APPEND")
	}
	if c, err := tr.ReadCommand(); err != nil || c.CommandTag() != "b" {
		t.Errorf("next: %v, %v", c, err)
	}
}

func TestCatenate(t *testing.T) {
	t.Parallel()
	in := "a APPEND Drafts (\\Draft) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {4+}\r\nbody URL \"/x\") {2+}\r\nok\r\n"
	tr := newTestReader(in, Options{})
	tr.SetAuthenticated(true)
	tr.ReadCommand()
	m, err := tr.NextAppendMessage()
	if err != nil || !m.Catenate || len(m.Flags) != 1 {
		t.Fatalf("%+v %v", m, err)
	}
	var got []string
	for {
		p, err := tr.NextCatPart()
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			break
		}
		if p.Text != nil {
			b, _ := io.ReadAll(p.Text)
			got = append(got, "TEXT:"+string(b))
		} else {
			got = append(got, "URL:"+p.URL)
		}
	}
	m, err = tr.NextAppendMessage()
	if err != nil || m == nil {
		t.Fatalf("second message: %v %v", m, err)
	}
	b, _ := io.ReadAll(m.Body)
	got = append(got, string(b))
	if m, err := tr.NextAppendMessage(); m != nil || err != nil {
		t.Errorf("end: %v %v", m, err)
	}
	want := "URL:/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER|TEXT:body|URL:/x|ok"
	if strings.Join(got, "|") != want {
		t.Errorf("got %q", strings.Join(got, "|"))
	}
}

func TestSASLAndIdle(t *testing.T) {
	t.Parallel()
	tr := newTestReader("AGEAYg==\r\n*\r\n!!\r\ndone\r\nnope\r\n", Options{})
	if b, err := tr.ReadSASLResponse(); err != nil || string(b) != "\x00a\x00b" {
		t.Errorf("got %q %v", b, err)
	}
	if _, err := tr.ReadSASLResponse(); !errors.Is(err, ErrSASLCancelled) {
		t.Errorf("got %v", err)
	}
	if _, err := tr.ReadSASLResponse(); err == nil {
		t.Error("bad base64 accepted")
	}
	if err := tr.ReadIdleDone(); err != nil {
		t.Error(err)
	}
	if err := tr.ReadIdleDone(); err == nil {
		t.Error("nope accepted as DONE")
	}
}

func TestUTF8Accept(t *testing.T) {
	t.Parallel()
	tr := newTestReader("a SELECT \"Entwürfe\"\r\nb CREATE \"Tom & Jerry\"\r\n", Options{})
	tr.SetAuthenticated(true)
	tr.SetUTF8Accept(true)
	c, err := tr.ReadCommand()
	if err != nil || c.(*Select).Mailbox != "Entwürfe" {
		t.Errorf("got %v %v", c, err)
	}
	c, err = tr.ReadCommand()
	if err != nil || c.(*Create).Mailbox != "Tom & Jerry" {
		t.Errorf("got %v %v", c, err)
	}
}

func TestUTF8Quoted(t *testing.T) {
	t.Parallel()
	in := "a LOGIN \"jöe\" pw\r\nb SELECT \"Entw&APw-rfe\"\r\nc LOGIN \"\xff\" pw\r\n"
	tr := newTestReader(in, Options{})
	tr.SetUTF8Quoted(true)
	if c, err := tr.ReadCommand(); err != nil || c.(*Login).Username != "jöe" {
		t.Errorf("got %v %v", c, err)
	}
	// Mailbox names are still modified UTF-7.
	if c, err := tr.ReadCommand(); err != nil || c.(*Select).Mailbox != "Entwürfe" {
		t.Errorf("got %v %v", c, err)
	}
	if _, err := tr.ReadCommand(); err == nil || !strings.Contains(err.Error(), "Invalid UTF-8") {
		t.Errorf("invalid UTF-8 in a quoted string: %v", err)
	}
}

func TestBufferedAndReset(t *testing.T) {
	t.Parallel()
	// A client that pipelines a command after STARTTLS: the session must
	// see it buffered and refuse to go on.
	tr := newTestReader("a STARTTLS\r\nb LOGIN x y\r\n", Options{})
	if _, err := tr.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if tr.Buffered() == 0 {
		t.Error("pipelined bytes after STARTTLS not reported")
	}
	tr = newTestReader("a STARTTLS\r\n", Options{})
	tr.ReadCommand()
	if n := tr.Buffered(); n != 0 {
		t.Errorf("Buffered() = %d with nothing pipelined", n)
	}
	tr.Reset(bufio.NewReader(strings.NewReader("c NOOP\r\n")))
	if c, err := tr.ReadCommand(); err != nil || c.CommandTag() != "c" {
		t.Errorf("after Reset: %v %v", c, err)
	}
}

func TestSetMaxAppendSize(t *testing.T) {
	t.Parallel()
	tr := newTestReader("a APPEND INBOX {2000}\r\n", Options{})
	tr.SetAuthenticated(true)
	tr.SetMaxAppendSize(1000)
	tr.ReadCommand()
	if _, err := tr.NextAppendMessage(); err == nil || err.(*Error).Code != "TOOBIG" {
		t.Errorf("got %v", err)
	}
}

// TestCommandSizePreAuth: before login one command may hold no more than
// MaxCommandSizePreAuth (64 KiB by default), literals included, although
// each literal is within MaxLiteralPreAuth; the refusal is at once, the
// rest of the command is skipped and the next one is read. Once
// authenticated, the same command is read whole.
func TestCommandSizePreAuth(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a ID (")
	val := strings.Repeat("v", 8000)
	for i := range 12 { // 12 values of 8000 bytes: 96,000 bytes in all
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "\"k%d\" {8000+}\r\n%s", i, val)
	}
	b.WriteString(")\r\nb NOOP\r\n")
	in := b.String()

	tr := newTestReader(in, Options{})
	_, err := tr.ReadCommand()
	e, ok := err.(*Error)
	if !ok || e.Tag != "a" || e.Fatal || e.Code != "TOOBIG" {
		t.Fatalf("pre-auth ID of 96,000 bytes: %v, want NO [TOOBIG], not fatal", err)
	}
	if tr.used > 64<<10 {
		t.Errorf("held %d bytes for one pre-auth command", tr.used)
	}
	if c, err := tr.ReadCommand(); err != nil || c.CommandTag() != "b" {
		t.Fatalf("after the refusal: %v, %v", c, err)
	}

	tr = newTestReader(in, Options{})
	tr.SetAuthenticated(true)
	if c, err := tr.ReadCommand(); err != nil || len(c.(*ID).Params) != 12 {
		t.Fatalf("authenticated: %v, %v", c, err)
	}
	// After UNAUTHENTICATE the bound is the pre-auth one again.
	tr = newTestReader(in, Options{})
	tr.SetAuthenticated(true)
	tr.SetAuthenticated(false)
	if _, err := tr.ReadCommand(); err == nil {
		t.Fatal("unauthenticated again: accepted")
	}
}
