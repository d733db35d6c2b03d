package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Reader reads IMAP commands from a client, one at a time, enforcing the
// bounds of its Options. It is not safe for concurrent use; one connection
// owns one Reader.
type Reader struct {
	br   *bufio.Reader
	cont func() error
	opts Options

	authed bool
	utf8   bool // UTF8=ACCEPT: UTF-8 mailbox names and quoted strings
	utf8q  bool // UTF-8 in quoted strings only (RFC 9051 QUOTED-CHAR)

	line  []byte // the current line segment, without its CRLF
	pos   int
	used  int64 // bytes held for the current command (MaxCommandSize)
	depth int

	tag, name string

	// dirty is set while a command is partly read (an error was returned
	// with bytes still to skip, or an APPEND still streams); the next
	// ReadCommand discards the rest first.
	dirty       bool
	pendingSkip int64
	appendState *appendState
}

// NewReader returns a Reader over br. cont is called each time the Reader
// has accepted a synchronising literal and is about to read its bytes: it
// must send a continuation request ("+ Ready") and flush. It is never
// called for a literal that is refused.
func NewReader(br *bufio.Reader, cont func() error, opts Options) *Reader {
	return &Reader{br: br, cont: cont, opts: opts.withDefaults()}
}

// SetAuthenticated switches the literal bounds between MaxLiteralPreAuth
// and MaxLiteral/MaxAppendSize, and the command bound between
// MaxCommandSizePreAuth and MaxCommandSize.
func (r *Reader) SetAuthenticated(v bool) { r.authed = v }

// SetUTF8Accept records ENABLE UTF8=ACCEPT (RFC 9755/6855): quoted strings
// may then carry UTF-8, and mailbox names are UTF-8 rather than modified
// UTF-7.
func (r *Reader) SetUTF8Accept(v bool) { r.utf8 = v }

// SetUTF8Quoted lets quoted strings carry UTF-8 without switching mailbox
// names away from modified UTF-7: RFC 9051's QUOTED-CHAR includes UTF8-2,
// UTF8-3 and UTF8-4, so a session may set it once IMAP4rev2 is enabled.
// Off, an 8-bit byte in a quoted string is a BAD (RFC 3501 section 9).
func (r *Reader) SetUTF8Quoted(v bool) { r.utf8q = v }

// SetMaxAppendSize changes Options.MaxAppendSize, for an APPENDLIMIT that
// depends on the account (RFC 7889); n <= 0 restores the default.
func (r *Reader) SetMaxAppendSize(n int64) {
	o := r.opts
	o.MaxAppendSize = n
	r.opts = o.withDefaults()
}

// Buffered returns the number of bytes the client sent that are buffered
// but not yet read. After STARTTLS and COMPRESS it must be 0: bytes sent
// before the switch are an injection attempt (RFC 9051 section 6.2.1, the
// STARTTLS command injection of CVE-2011-0411), and the session closes the
// connection rather than read them.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Reset makes the Reader read from br, keeping its state and options: for
// the TLS or DEFLATE stream after STARTTLS or COMPRESS.
func (r *Reader) Reset(br *bufio.Reader) { r.br = br }

// ReadCommand reads the next command. On a parse error it returns an *Error
// (see its doc for what the caller answers); any other error is an I/O
// error from the connection. Before reading, it discards whatever is left
// of the previous command (an unread APPEND body, a rejected literal).
func (r *Reader) ReadCommand() (cmd Command, err error) {
	if r.dirty {
		if err := r.discardCommand(); err != nil {
			return nil, err
		}
	}
	r.tag, r.name, r.used, r.depth = "", "", 0, 0
	if cap(r.line) > 16<<10 {
		// Do not keep a long line's buffer for the life of an idle
		// connection.
		r.line = nil
	}
	defer func() {
		if v := recover(); v != nil {
			cmd, err = nil, r.recovered(v)
		}
	}()
	r.readLine()
	return r.parseCommand(), nil
}

// recovered turns a thrown parseError into the error returned to the
// caller, and leaves the Reader ready for the next command when possible.
func (r *Reader) recovered(v any) error {
	pe, ok := v.(*parseError)
	if !ok {
		panic(v)
	}
	if pe.io != nil {
		return pe.io
	}
	e := &Error{Tag: r.tag, Command: r.name, NO: pe.no, Code: pe.code, Reason: pe.reason, Fatal: pe.fatal}
	r.appendState = nil
	if !e.Fatal {
		// Drop the rest of this line; if it ends in a non-synchronising
		// literal, its bytes and the lines after it still belong to this
		// command and must be skipped before the next one.
		r.pendingSkip = pe.skip
		if pe.skip == 0 {
			// A literal announcement always ends a line, so look at the
			// whole line: the error may have come from inside it.
			if n, nonSync, ok := trailingLiteral(r.line); ok && nonSync {
				if n > r.opts.MaxSkip {
					e.Fatal = true
					return e
				}
				r.pendingSkip = n
			}
		}
		r.dirty = r.pendingSkip > 0
	}
	return e
}

// discardCommand skips the rest of a command the caller gave up on: the
// pending literal bytes, then each following line while it ends in a
// non-synchronising literal. A synchronising literal ends it: the client
// waits for a continuation that never comes and reads our tagged reply.
func (r *Reader) discardCommand() error {
	r.dirty = false
	if st := r.appendState; st != nil {
		r.appendState = nil
		if st.body != nil {
			// The line after the body has not been read yet.
			r.pendingSkip += st.body.lr.N
			st.body.lr.N = 0
		} else {
			n, nonSync, ok := trailingLiteral(r.line)
			if !ok || !nonSync {
				return nil
			}
			if n > r.opts.MaxSkip {
				return &Error{Reason: "Literal too large to skip", Fatal: true}
			}
			r.pendingSkip = n
		}
	}
	for {
		if r.pendingSkip > 0 {
			if _, err := r.br.Discard(int(min(r.pendingSkip, int64(^uint(0)>>1)))); err != nil {
				return err
			}
			r.pendingSkip = 0
		}
		line, err := r.readRawLine()
		if err != nil {
			return err
		}
		n, nonSync, ok := trailingLiteral(line)
		if !ok || !nonSync {
			return nil
		}
		if n > r.opts.MaxSkip {
			return &Error{Reason: "Literal too large to skip", Fatal: true}
		}
		r.pendingSkip = n
	}
}

// readRawLine reads one line into r.line without the parser's bookkeeping;
// used while skipping. Lines over the limit are a fatal error.
func (r *Reader) readRawLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.line)+len(chunk) > r.opts.MaxLineLength+2 {
			return nil, &Error{Tag: r.tag, Reason: "Line too long", Fatal: true}
		}
		r.line = append(r.line, chunk...)
		switch {
		case err == nil:
			r.line = bytes.TrimSuffix(r.line[:len(r.line)-1], []byte{'\r'})
			r.pos = 0
			return r.line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

// readLine reads the next line of the current command into r.line.
func (r *Reader) readLine() {
	line, err := r.readRawLine()
	if err != nil {
		var we *Error
		if errors.As(err, &we) {
			if r.tag == "" {
				r.tag = guessTag(r.line)
			}
			panic(&parseError{reason: we.Reason, fatal: true})
		}
		r.failIO(err)
	}
	r.charge(int64(len(line)))
}

// charge counts n more bytes held for this command against its bound.
func (r *Reader) charge(n int64) {
	r.used += n
	if r.used > r.maxCommandSize() {
		r.fail("Command too long")
	}
}

// maxCommandSize is the bound on the bytes one command may hold in the
// current state: MaxCommandSizePreAuth until authentication.
func (r *Reader) maxCommandSize() int64 {
	if r.authed {
		return r.opts.MaxCommandSize
	}
	return r.opts.MaxCommandSizePreAuth
}

// guessTag returns the tag at the start of a partial line, for the
// response to a line too long to read whole.
func guessTag(b []byte) string {
	i := 0
	for i < len(b) && i < 64 && isTagChar(b[i]) {
		i++
	}
	if i < len(b) && b[i] == ' ' {
		return string(b[:i])
	}
	return ""
}

// trailingLiteral reports whether line ends with a literal announcement
// ({n}, {n+}, ~{n}, ~{n+}), its size, and whether it is non-synchronising.
func trailingLiteral(line []byte) (n int64, nonSync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false, false
	}
	digits := line[i+1 : len(line)-1]
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		nonSync = true
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		n = n*10 + int64(c-'0')
		if n < 0 {
			return 0, false, false
		}
	}
	return n, nonSync, true
}

// literalKind says what a literal is for, which decides its bound.
type literalKind int

const (
	litString literalKind = iota // a string argument, buffered
	litAppend                    // an APPEND message or CATENATE part, streamed
)

// literalHeader parses a literal announcement at r.pos, which must end the
// line, checks it against the bounds, and sends the continuation for a
// synchronising literal. It returns the size and whether it was binary.
func (r *Reader) literalHeader(kind literalKind, binaryOK bool) (n int64, binary bool) {
	if r.pos < len(r.line) && r.line[r.pos] == '~' {
		if !binaryOK {
			r.fail("Binary literal not allowed here")
		}
		binary = true
		r.pos++
	}
	if !r.consume('{') {
		r.fail("Expected literal")
	}
	start := r.pos
	for r.pos < len(r.line) && isDigit(r.line[r.pos]) {
		r.pos++
	}
	digits := r.line[start:r.pos]
	nonSync := r.consume('+')
	if !r.consume('}') || r.pos != len(r.line) || len(digits) == 0 {
		r.fail("Invalid literal")
	}
	n, ok := parseNum64(digits)
	if !ok {
		r.fail("Invalid literal size")
	}
	limit := r.opts.MaxLiteralPreAuth
	if r.authed {
		limit = r.opts.MaxLiteral
		if kind == litAppend {
			limit = r.opts.MaxAppendSize
		}
	}
	tooBig := n > limit
	if !tooBig && kind == litString && r.used+n > r.maxCommandSize() {
		tooBig = true
	}
	// RFC 7888 section 4: under LITERAL- a non-synchronising literal over
	// 4096 bytes is a client error (BAD), not a size the server refuses
	// (NO).
	minusViolation := nonSync && r.opts.LiteralMinus && n > 4096
	if tooBig || minusViolation {
		pe := &parseError{no: !minusViolation, code: "TOOBIG", reason: fmt.Sprintf("Literal of %d bytes too large", n)}
		if nonSync {
			// RFC 7888: the bytes are on their way; skip or close.
			if n > r.opts.MaxSkip {
				pe.fatal = true
			} else {
				pe.skip = n
			}
		}
		r.pos = len(r.line)
		panic(pe)
	}
	if !nonSync && r.cont != nil {
		if err := r.cont(); err != nil {
			r.failIO(err)
		}
	}
	return n, binary
}

// literalString reads a buffered literal at r.pos (the announcement ends
// the line), then the next line segment of the command.
func (r *Reader) literalString() []byte {
	return r.literalBytes(false)
}

// literalBytes is literalString, accepting a binary literal (which may
// hold NUL) when binaryOK is set.
func (r *Reader) literalBytes(binaryOK bool) []byte {
	n, binary := r.literalHeader(litString, binaryOK)
	r.charge(n)
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		r.failIO(err)
	}
	// The line that follows is still part of this command; read it before
	// checking the content so an error leaves the stream in step.
	r.readLine()
	if !binary && bytes.IndexByte(buf, 0) >= 0 {
		r.fail("NUL byte in literal")
	}
	return buf
}
