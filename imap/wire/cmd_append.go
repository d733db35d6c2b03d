package wire

import (
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Append is APPEND mailbox, returned as soon as the mailbox is read: the
// messages (one, or several with MULTIAPPEND, RFC 3502) are then read one
// at a time with Reader.NextAppendMessage, so that the session can refuse
// the mailbox (NO [TRYCREATE]) before any continuation is sent and can
// stream each body to the store. If the session gives up on the command,
// the next ReadCommand skips what is left of it.
type Append struct {
	Base
	Mailbox string
	// NonSync is set when the command's first line ends in a
	// non-synchronising literal ({n+}, RFC 7888): the client sends it
	// without waiting for a continuation, so there is nothing to refuse
	// before it comes.
	NonSync bool
}

// AppendMessage is one message of an APPEND.
type AppendMessage struct {
	Flags []imap.Flag // nil when absent
	Time  time.Time   // zero when absent
	// Body is the message literal, read directly from the connection;
	// nil for CATENATE (RFC 4469), whose parts come from NextCatPart.
	Body     *Literal
	Catenate bool
}

// CatPart is one part of a CATENATE list: a URL or a TEXT literal.
type CatPart struct {
	URL  string   // for URL parts
	Text *Literal // for TEXT parts, streamed like an APPEND body
}

// Literal is a literal being read from the connection, bounded to its
// size. Reading a normal literal that holds a NUL byte fails with
// ErrNULInLiteral (the bytes before it are returned first).
type Literal struct {
	Size    int64
	Binary  bool // ~{n} (RFC 3516)
	NonSync bool // {n+} (RFC 7888)
	lr      io.LimitedReader
}

// Read implements io.Reader.
func (l *Literal) Read(p []byte) (int, error) {
	n, err := l.lr.Read(p)
	if !l.Binary && bytes.IndexByte(p[:n], 0) >= 0 {
		return n, ErrNULInLiteral
	}
	if errors.Is(err, io.EOF) && l.lr.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Remaining is the number of bytes not yet read.
func (l *Literal) Remaining() int64 { return l.lr.N }

type appendState struct {
	first  bool     // no message read yet
	catPos int      // 0 outside CATENATE, 1 before "(", 2 inside the list
	body   *Literal // the literal handed out last, if any
	count  int
}

func (r *Reader) parseAppend(b Base) Command {
	r.sp()
	c := &Append{Base: b, Mailbox: r.mailbox(), NonSync: r.endsNonSync()}
	r.appendState = &appendState{first: true}
	r.dirty = true
	return c
}

// afterBody drains the literal handed out last and reads the line that
// follows it.
func (r *Reader) afterBody(st *appendState) {
	if st.body == nil {
		return
	}
	if st.body.lr.N > 0 {
		if _, err := io.Copy(io.Discard, &st.body.lr); err != nil {
			r.failIO(err)
		}
		if st.body.lr.N > 0 {
			r.failIO(io.ErrUnexpectedEOF)
		}
	}
	st.body = nil
	r.used = 0 // each message's line is bounded afresh
	r.readLine()
}

// NextAppendMessage returns the next message of the APPEND just returned by
// ReadCommand, or nil when the command is complete. A synchronising
// literal's continuation is sent here. Errors are as for ReadCommand; after
// an *Error the command is over.
func (r *Reader) NextAppendMessage() (msg *AppendMessage, err error) {
	st := r.appendState
	if st == nil {
		return nil, errors.New("wire: NextAppendMessage without an APPEND")
	}
	defer func() {
		if v := recover(); v != nil {
			msg, err = nil, r.recovered(v)
		}
	}()
	if st.catPos != 0 {
		r.fail("CATENATE parts not all read")
	}
	r.afterBody(st)
	if !st.first && r.atEnd() {
		r.appendState = nil
		r.dirty = false
		return nil, nil
	}
	if st.count >= r.opts.MaxItems {
		r.fail("Too many messages")
	}
	st.first = false
	st.count++
	r.sp()
	m := &AppendMessage{}
	if r.peek() == '(' {
		m.Flags = r.flagList()
		r.sp()
	}
	if r.peek() == '"' {
		m.Time = r.dateTime()
		r.sp()
	}
	if r.peek() == '{' || r.peek() == '~' {
		m.Body = r.appendLiteral(st)
		return m, nil
	}
	if r.keyword() != "CATENATE" {
		r.fail("Expected message literal")
	}
	r.sp()
	m.Catenate = true
	st.catPos = 1
	return m, nil
}

// NextCatPart returns the next part of a CATENATE message, or nil after
// the last one.
func (r *Reader) NextCatPart() (part *CatPart, err error) {
	st := r.appendState
	if st == nil || st.catPos == 0 {
		return nil, errors.New("wire: NextCatPart outside CATENATE")
	}
	defer func() {
		if v := recover(); v != nil {
			part, err = nil, r.recovered(v)
		}
	}()
	r.afterBody(st)
	if st.catPos == 1 {
		r.expect('(')
		st.catPos = 2
	} else {
		if r.consume(')') {
			st.catPos = 0
			return nil, nil
		}
		r.sp()
	}
	switch r.keyword() {
	case "URL":
		r.sp()
		return &CatPart{URL: r.astring()}, nil
	case "TEXT":
		r.sp()
		return &CatPart{Text: r.appendLiteral(st)}, nil
	}
	r.fail("Expected URL or TEXT")
	return nil, nil
}

// endsNonSync reports whether the line read last ends in a
// non-synchronising literal's announcement ({n+} or ~{n+}).
func (r *Reader) endsNonSync() bool { return bytes.HasSuffix(r.line, []byte("+}")) }

func (r *Reader) appendLiteral(st *appendState) *Literal {
	nonSync := r.endsNonSync()
	n, binary := r.literalHeader(litAppend, true)
	l := &Literal{Size: n, Binary: binary, NonSync: nonSync}
	l.lr = io.LimitedReader{R: r.br, N: n}
	st.body = l
	return l
}
