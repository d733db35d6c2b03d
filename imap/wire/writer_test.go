package wire

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func newTestWriter() (*Writer, *bytes.Buffer) {
	var buf bytes.Buffer
	return NewWriter(bufio.NewWriter(&buf)), &buf
}

func TestWriterOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		utf8  bool
		write func(w *Writer)
		want  string
	}{
		{"tagged OK", false, func(w *Writer) { w.StatusResponse("a1", OK, "", "LOGIN completed") }, "a1 OK LOGIN completed\r\n"},
		{"untagged code", false, func(w *Writer) { w.StatusResponse("", OK, "UIDNEXT 4392", "Predicted next UID") }, "* OK [UIDNEXT 4392] Predicted next UID\r\n"},
		{"no CRLF in text", false, func(w *Writer) { w.StatusResponse("a", NO, "", "bad\r\nthing\x00") }, "a NO bad  thing \r\n"},
		{"empty text", false, func(w *Writer) { w.StatusResponse("a", BAD, "", "") }, "a BAD BAD\r\n"},
		{"parse error", false, func(w *Writer) {
			w.ErrorResponse(&Error{Tag: "A1", NO: true, Code: "TOOBIG", Reason: "Literal too large"})
		}, "A1 NO [TOOBIG] Literal too large\r\n"},
		{"continue", false, func(w *Writer) { w.Continue("") }, "+ Ready\r\n"},
		{"fetch", false, func(w *Writer) {
			w.Untagged()
			w.Number(12)
			w.Token(" FETCH (UID ")
			w.Number(4827313)
			w.Token(" MODSEQ (")
			w.Number64(1 << 40)
			w.Token(") FLAGS ")
			w.Flags([]imap.Flag{imap.FlagSeen, "$Forwarded"})
			w.Token(" INTERNALDATE ")
			w.DateTime(time.Date(1996, 7, 1, 2, 44, 25, 0, time.FixedZone("", -7*3600)))
			w.Token(")")
			w.CRLF()
		}, "* 12 FETCH (UID 4827313 MODSEQ (1099511627776) FLAGS (\\Seen $Forwarded) INTERNALDATE \" 1-Jul-1996 02:44:25 -0700\")\r\n"},
		{"strings", false, func(w *Writer) {
			w.AString("atom")
			w.SP()
			w.String("atom")
			w.SP()
			w.AString("two words")
			w.SP()
			w.AString(`q"b\s`)
			w.SP()
			w.AString("")
			w.SP()
			w.AString("nil")
			w.SP()
			w.String("line\r\nbreak")
			w.SP()
			w.String("café")
			w.SP()
			w.NString("", false)
			w.SP()
			w.String("a\x00b")
		}, "atom \"atom\" \"two words\" \"q\\\"b\\\\s\" \"\" \"nil\" {11}\r\nline\r\nbreak {5}\r\ncaf\xc3\xa9 NIL \"ab\""},
		{"utf8 quoted", true, func(w *Writer) { w.String("café") }, "\"café\""},
		{"long string is a literal", false, func(w *Writer) { w.String(strings.Repeat("x", 1025)) }, "{1025}\r\n" + strings.Repeat("x", 1025)},
		{"mailboxes", false, func(w *Writer) {
			w.Mailbox("inbox")
			w.SP()
			w.Mailbox("日本語")
			w.SP()
			w.Mailbox("Tom & Jerry")
			w.SP()
			w.Mailbox("a]b")
		}, "INBOX &ZeVnLIqe- \"Tom &- Jerry\" a]b"},
		{"utf8 mailbox", true, func(w *Writer) { w.Mailbox("日本語") }, "\"日本語\""}, // atoms are 7-bit
		{"numsets", false, func(w *Writer) {
			w.NumSet(ss(1, 3, 5, 5, 7, 0))
			w.SP()
			w.NumSet(us(0, 0))
			w.SP()
			w.NumSet(imap.SearchRes())
		}, "1:3,5,7:* * $"},
		{"literals", false, func(w *Writer) {
			w.Literal(5, strings.NewReader("hello, world"))
			w.SP()
			w.BinaryLiteral(3, strings.NewReader("a\x00b"))
			w.SP()
			w.LiteralBytes([]byte("xy"))
		}, "{5}\r\nhello ~{3}\r\na\x00b {2}\r\nxy"},
	}
	for _, tt := range tests {
		w, buf := newTestWriter()
		w.SetUTF8Accept(tt.utf8)
		tt.write(w)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestWriterNUL(t *testing.T) {
	t.Parallel()
	if !HasNUL([]byte("a\x00")) || HasNUL([]byte("abc")) {
		t.Error("HasNUL wrong")
	}
	w, _ := newTestWriter()
	if err := w.Literal(3, strings.NewReader("a\x00b")); !errors.Is(err, ErrNULInLiteral) {
		t.Errorf("Literal with NUL: %v", err)
	}
	w, buf := newTestWriter()
	if err := w.LiteralBytes([]byte("a\x00b")); !errors.Is(err, ErrNULInLiteral) {
		t.Errorf("LiteralBytes with NUL: %v", err)
	}
	w.Flush()
	if buf.Len() != 0 {
		t.Errorf("LiteralBytes wrote %q despite the NUL", buf.String())
	}
	w, _ = newTestWriter()
	if err := w.Literal(10, strings.NewReader("short")); err == nil {
		t.Error("short literal source accepted")
	}
}

func TestStringForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		utf8 bool
		want Form
	}{
		{"abc", false, FormAtom},
		{"a b", false, FormQuoted},
		{"", false, FormQuoted},
		{"NIL", false, FormQuoted},
		{"a\rb", false, FormLiteral},
		{"é", false, FormLiteral},
		{"é", true, FormQuoted},
		{"\xff", true, FormLiteral},
		{"a\x00", true, FormBinary},
		{"%", false, FormQuoted},
	}
	for _, tt := range tests {
		if got := StringForm(tt.s, tt.utf8); got != tt.want {
			t.Errorf("StringForm(%q, %v) = %v, want %v", tt.s, tt.utf8, got, tt.want)
		}
	}
}
