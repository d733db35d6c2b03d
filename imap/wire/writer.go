package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// Writer writes IMAP responses into a bufio.Writer. Its methods write
// straight into the buffer (numbers through a scratch array), so writing a
// FETCH response allocates nothing. Errors are sticky: the first write
// error is kept and returned by Flush, Err, and the literal methods.
//
// The caller writes the separators (SP, parentheses) itself, in the order
// of the RFC 9051 section 9 grammar; the methods that take data (String,
// AString, NString, Mailbox, Flags, NumSet, Literal) choose a form that is
// always valid on the wire.
type Writer struct {
	bw      *bufio.Writer
	utf8    bool
	err     error
	scratch [64]byte
}

// NewWriter returns a Writer over bw.
func NewWriter(bw *bufio.Writer) *Writer { return &Writer{bw: bw} }

// Reset makes the Writer write into bw (after STARTTLS or COMPRESS); the
// old buffer must have been flushed.
func (w *Writer) Reset(bw *bufio.Writer) { w.bw = bw }

// SetUTF8Accept records ENABLE UTF8=ACCEPT: quoted strings may then carry
// UTF-8, and mailbox names are written as UTF-8 instead of modified UTF-7
// (RFC 6855 section 3).
func (w *Writer) SetUTF8Accept(v bool) { w.utf8 = v }

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

// Flush sends the buffered responses.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.bw.Flush()
	return w.err
}

func (w *Writer) str(s string) {
	if w.err == nil {
		_, w.err = w.bw.WriteString(s)
	}
}

func (w *Writer) bytes(b []byte) {
	if w.err == nil {
		_, w.err = w.bw.Write(b)
	}
}

func (w *Writer) byte(c byte) {
	if w.err == nil {
		w.err = w.bw.WriteByte(c)
	}
}

// Token writes s as it is. It is for protocol tokens the session spells
// itself (command names, "FETCH", "(", capability names); client or
// message data goes through String, AString or NString.
func (w *Writer) Token(s string) { w.str(s) }

// SP writes a space.
func (w *Writer) SP() { w.byte(' ') }

// CRLF ends a response line.
func (w *Writer) CRLF() { w.str("\r\n") }

// Untagged starts an untagged response: "* ".
func (w *Writer) Untagged() { w.str("* ") }

// Number writes a number.
func (w *Writer) Number(n uint32) { w.bytes(strconv.AppendUint(w.scratch[:0], uint64(n), 10)) }

// Number64 writes a 63-bit number (sizes, mod-sequences).
func (w *Writer) Number64(n uint64) { w.bytes(strconv.AppendUint(w.scratch[:0], n, 10)) }

// NIL writes NIL.
func (w *Writer) NIL() { w.str("NIL") }

// StatusType is the kind of a status response (RFC 9051 section 7.1).
type StatusType string

const (
	OK      StatusType = "OK"
	NO      StatusType = "NO"
	BAD     StatusType = "BAD"
	PREAUTH StatusType = "PREAUTH"
	BYE     StatusType = "BYE"
)

// StatusResponse writes "tag type [code] text" + CRLF; an empty tag gives an
// untagged "*" response. code is written as given, without brackets
// ("TOOBIG", "UIDNEXT 5"). CR, LF and NUL in text become spaces, and an
// empty text becomes the type's name, as resp-text needs some text.
func (w *Writer) StatusResponse(tag string, typ StatusType, code, text string) {
	if tag == "" {
		tag = "*"
	}
	w.str(tag)
	w.byte(' ')
	w.str(string(typ))
	w.byte(' ')
	if code != "" {
		w.byte('[')
		w.str(code)
		w.str("] ")
	}
	if text == "" {
		text = string(typ)
	}
	w.text(text)
	w.CRLF()
}

// text writes resp-text without the characters it must not hold.
func (w *Writer) text(s string) {
	for {
		i := strings.IndexAny(s, "\r\n\x00")
		if i < 0 {
			w.str(s)
			return
		}
		w.str(s[:i])
		w.byte(' ')
		s = s[i+1:]
	}
}

// ErrorResponse writes the response to a parse error from the Reader: the
// tagged (or untagged) BAD/NO.
func (w *Writer) ErrorResponse(e *Error) {
	typ := BAD
	if e.NO {
		typ = NO
	}
	w.StatusResponse(e.Tag, typ, e.Code, e.Reason)
}

// Continue writes a continuation request "+ text" + CRLF; it does not
// flush (the Reader's cont callback should).
func (w *Writer) Continue(text string) {
	w.str("+ ")
	if text == "" {
		text = "Ready"
	}
	w.text(text)
	w.CRLF()
}

// Form is how a string goes on the wire.
type Form int

const (
	FormAtom    Form = iota // ASTRING-CHARs only: may be written bare
	FormQuoted              // fits a quoted string
	FormLiteral             // needs a literal (CR, LF, 8-bit without UTF8=ACCEPT, or long)
	FormBinary              // holds NUL: only a binary literal ~{n} can carry it
)

// maxQuoted is the longest string written quoted; longer ones are literals,
// which cost no escaping and are easier on clients.
const maxQuoted = 1024

// StringForm says how s can be written when UTF8=ACCEPT is utf8.
func StringForm(s string, utf8ok bool) Form {
	if len(s) > maxQuoted {
		if strings.IndexByte(s, 0) >= 0 {
			return FormBinary
		}
		return FormLiteral
	}
	form := FormAtom
	if s == "" || strings.EqualFold(s, "NIL") {
		form = FormQuoted
	}
	eightBit := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0:
			return FormBinary
		case c == '\r' || c == '\n':
			form = FormLiteral
		case c >= 0x80:
			eightBit = true
		case !isAstringChar(c) && form == FormAtom:
			form = FormQuoted
		}
	}
	if eightBit {
		if form == FormLiteral || !utf8ok || !utf8.ValidString(s) {
			return FormLiteral
		}
		return FormQuoted
	}
	return form
}

// HasNUL reports whether p holds a NUL byte, which a normal literal must
// not carry (RFC 9051 section 4.3): FETCH then sends the part in base64,
// or as a binary literal for BINARY[...].
func HasNUL(p []byte) bool { return bytes.IndexByte(p, 0) >= 0 }

// String writes s as a quoted string or a literal (never as an atom, for
// places where the grammar says string). NUL bytes, which no string may
// carry, are dropped.
func (w *Writer) String(s string) { w.writeString(s, false) }

// AString writes s as an atom when it can be one, else as String does.
func (w *Writer) AString(s string) { w.writeString(s, true) }

// NString writes s, or NIL when ok is false.
func (w *Writer) NString(s string, ok bool) {
	if !ok {
		w.NIL()
		return
	}
	w.String(s)
}

func (w *Writer) writeString(s string, atomOK bool) {
	form := StringForm(s, w.utf8)
	if form == FormBinary {
		s = strings.ReplaceAll(s, "\x00", "")
		form = StringForm(s, w.utf8)
	}
	switch form {
	case FormAtom:
		if atomOK {
			w.str(s)
			return
		}
		fallthrough
	case FormQuoted:
		w.byte('"')
		for {
			i := strings.IndexAny(s, `"\`)
			if i < 0 {
				break
			}
			w.str(s[:i])
			w.byte('\\')
			w.byte(s[i])
			s = s[i+1:]
		}
		w.str(s)
		w.byte('"')
	default:
		w.literalHeader(int64(len(s)), false)
		w.str(s)
	}
}

func (w *Writer) literalHeader(n int64, binary bool) {
	if binary {
		w.byte('~')
	}
	w.byte('{')
	w.Number64(uint64(n))
	w.str("}\r\n")
}

// Literal writes {size} CRLF and then exactly size bytes from r, streamed
// through the buffer. A NUL byte in the data is a bug of the caller (it
// should have used HasNUL and chosen base64 or BinaryLiteral): the bytes
// are still sent, to keep the announced length, but ErrNULInLiteral is
// returned so the session can log it and close the connection.
func (w *Writer) Literal(size int64, r io.Reader) error {
	return w.literal(size, r, false)
}

// BinaryLiteral writes ~{size} CRLF and size bytes from r (RFC 3516
// literal8), which may hold any byte.
func (w *Writer) BinaryLiteral(size int64, r io.Reader) error {
	return w.literal(size, r, true)
}

// literal streams size bytes from r into the buffer: each read goes
// straight into the bufio.Writer's free space (no copy buffer, no
// allocation), and a normal literal is checked for NUL on the way.
func (w *Writer) literal(size int64, r io.Reader, binary bool) error {
	w.literalHeader(size, binary)
	nul := false
	for size > 0 && w.err == nil {
		if w.bw.Available() == 0 {
			if w.err = w.bw.Flush(); w.err != nil {
				break
			}
		}
		buf := w.bw.AvailableBuffer()
		buf = buf[:min(int64(cap(buf)), size)]
		n, err := r.Read(buf)
		if n > 0 {
			if !binary && !nul && bytes.IndexByte(buf[:n], 0) >= 0 {
				nul = true
			}
			w.bytes(buf[:n])
			size -= int64(n)
		}
		if err != nil && size > 0 {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			w.err = err
		}
	}
	if w.err != nil {
		return w.err
	}
	if nul {
		return ErrNULInLiteral
	}
	return nil
}

// LiteralBytes writes b as a literal ({n} CRLF b).
func (w *Writer) LiteralBytes(b []byte) error {
	if HasNUL(b) {
		return ErrNULInLiteral
	}
	w.literalHeader(int64(len(b)), false)
	w.bytes(b)
	return w.err
}

// Mailbox writes a mailbox name: INBOX as such, others in modified UTF-7
// (or UTF-8 under UTF8=ACCEPT), as an atom when possible.
func (w *Writer) Mailbox(name string) {
	if strings.EqualFold(name, "INBOX") {
		w.str("INBOX")
		return
	}
	if !w.utf8 {
		name = EncodeMUTF7(name)
	}
	w.AString(name)
}

// Flags writes a flag list "(\Seen $Label)". Flags are written as they
// are: they come from the store, which only holds valid ones.
func (w *Writer) Flags(flags []imap.Flag) {
	w.byte('(')
	for i, f := range flags {
		if i > 0 {
			w.byte(' ')
		}
		w.str(string(f))
	}
	w.byte(')')
}

// NumSet writes a sequence set ("1:3,5,7:*"), or "$" for imap.SearchRes().
func (w *Writer) NumSet(s imap.NumSet) {
	if imap.IsSearchRes(s) {
		w.byte('$')
		return
	}
	first := true
	rng := func(a, b uint32) {
		if !first {
			w.byte(',')
		}
		first = false
		w.seqNum(a)
		if a != b {
			w.byte(':')
			w.seqNum(b)
		}
	}
	switch s := s.(type) {
	case imap.SeqSet:
		for _, r := range s {
			rng(r.Start, r.Stop)
		}
	case imap.UIDSet:
		for _, r := range s {
			rng(uint32(r.Start), uint32(r.Stop))
		}
	}
}

func (w *Writer) seqNum(n uint32) {
	if n == 0 {
		w.byte('*')
		return
	}
	w.Number(n)
}

// DateTime writes a date-time (date-day-fixed: the day padded with a
// space), " 2-Jan-2006 15:04:05 -0700" in quotes.
func (w *Writer) DateTime(t time.Time) {
	w.bytes(t.AppendFormat(w.scratch[:0], `"_2-Jan-2006 15:04:05 -0700"`))
}
