package smtp

import (
	"bufio"
	"bytes"
	"fmt"
	"net/textproto"
	"reflect"
	"unsafe"

	gosmtp "github.com/emersion/go-smtp"
)

// go-smtp v0.25.1 has defects that no option or hook reaches:
//
//   - Its DATA reader (data.go) is net/textproto's dotReader without the
//     UnreadByte after a CR: "\r\r\n" never returns it to the start of a
//     line, so the ".\r\n" that follows is not seen as the end of data
//     (RFC 5321 4.5.2), and ".\rX" at the start of a line silently
//     becomes "X".
//   - Its line limit sits below all of that and, once a line passes it,
//     fails every read: in DATA it answers, then closes the connection
//     with the rest of the message unread, and a client still sending
//     gets a reset instead of the reply (and tries again later).
//   - Its MAIL parser reads SIZE with strconv.ParseUint(v, 10, 32), so a
//     declared size beyond 4 GiB gets 501 before the session is asked,
//     where RFC 1870 (size-value = 1*20DIGIT) wants 552 5.3.4.
//   - Its EHLO reply starts "250-Hello <client>" where RFC 5321 4.1.1.1
//     wants the server's name first, and its RCPT parser refuses
//     <postmaster> without a domain, which RFC 5321 4.5.1 requires a
//     server to accept (see wire_rewrite.go).
//
// All are handled at the one place that sees every plaintext byte of a
// connection, also after STARTTLS: the textproto.Conn that go-smtp reads
// commands and data from and writes replies to. go-smtp keeps it in an
// unexported field, reached here through reflect and unsafe. The session
// installs a wire on it when go-smtp creates the session, at EHLO; after
// STARTTLS go-smtp makes a new textproto.Conn and, at the next EHLO, a new
// session, which installs a new wire. While the session reads DATA it
// turns go-smtp's line limit off, as go-smtp itself does for BDAT, and
// applies the limit itself (readDotted). If a go-smtp upgrade changes the
// layout, textConn finds nothing, the wire stays off, and a warning is
// logged at start: DATA then falls back to scanning go-smtp's own reader
// (see readMessage), SIZE keeps go-smtp's 501, the EHLO reply its form
// and <postmaster> its 501. TestWireLayout fails
// loudly in that case.

// textConn returns the textproto.Conn of a go-smtp connection, or nil if
// go-smtp's Conn does not have the expected field.
func textConn(c *gosmtp.Conn) *textproto.Conn {
	if c == nil || !wireSupported() {
		return nil
	}
	f := reflect.ValueOf(c).Elem().FieldByName("text")
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(*textproto.Conn)
}

// wireSupported reports whether go-smtp's Conn has the field textConn
// reads, with the type it expects.
func wireSupported() bool {
	f, ok := reflect.TypeFor[gosmtp.Conn]().FieldByName("text")
	return ok && f.Type == reflect.TypeFor[*textproto.Conn]()
}

// lineLimit returns the line limit of go-smtp's connection reader (its
// lineLimitReader's LineLimit; 0 is off), or nil if go-smtp's Conn does
// not have the expected fields.
func lineLimit(c *gosmtp.Conn) *int {
	f, ok := reflect.TypeFor[gosmtp.Conn]().FieldByName("lineLimitReader")
	if c == nil || !ok || f.Type.Kind() != reflect.Pointer || f.Type.Elem().Kind() != reflect.Struct {
		return nil
	}
	if l, ok := f.Type.Elem().FieldByName("LineLimit"); !ok || l.Type != reflect.TypeFor[int]() {
		return nil
	}
	v := reflect.ValueOf(c).Elem().FieldByName("lineLimitReader")
	p := reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	if p.IsNil() {
		return nil
	}
	return (*int)(unsafe.Pointer(p.Elem().FieldByName("LineLimit").UnsafeAddr()))
}

// wire is one connection's interposition on go-smtp's text stream: a
// reader that hands go-smtp at most one line per read, so that it never
// holds input it has not asked for and the last line handed over is the
// command being answered, and a writer that corrects some of go-smtp's
// replies: 552 instead of 501 for an all-digit SIZE, and the server's
// name in the reply to EHLO and HELO (wire_rewrite.go). The reader also
// completes RCPT TO:<postmaster> (wire_rewrite.go).
type wire struct {
	conn  *gosmtp.Conn
	tc    *textproto.Conn
	br    *bufio.Reader // installed as tc.R: what go-smtp reads from
	lines *lineReader
	limit int64
	// hostname goes first in the reply to EHLO and HELO; "" leaves
	// go-smtp's reply as it is.
	hostname string
	// metrics counts the refusals go-smtp makes without asking the
	// session (libraryRefusal); nil counts nothing.
	metrics Metrics
}

// newWire installs a wire on c's text stream, or returns nil if the
// stream cannot be reached. It must run on the connection's goroutine
// between two commands, which is where go-smtp creates sessions: inside
// its EHLO (or HELO) handling, before the reply, which the wire then
// writes.
func newWire(c *gosmtp.Conn, limit int64) *wire {
	tc := textConn(c)
	if tc == nil {
		return nil
	}
	w := &wire{conn: c, tc: tc, limit: limit}
	w.lines = &lineReader{src: tc.R, greeted: true}
	w.br = bufio.NewReader(w.lines)
	tc.R = w.br
	tc.W = bufio.NewWriter(&replyWriter{dst: tc.W, w: w})
	return w
}

// current reports whether go-smtp still reads from this wire.
func (w *wire) current() bool { return w != nil && w.tc.R == w.br }

// lineReader reads from go-smtp's own buffered reader and returns at most
// up to the end of one line per Read. It follows the command lines it
// hands over (observe) and passes message content through untouched: the
// octets of a BDAT chunk, which it counts from the BDAT command, and a
// DATA message while readDotted reads it (see content).
type lineReader struct {
	src *bufio.Reader
	// primary is the domain RCPT TO:<postmaster> is completed with; ""
	// leaves the command to go-smtp, which refuses it.
	primary string

	raw     bool   // a DATA message is being read: no command lines
	skip    int64  // octets of a BDAT chunk still to hand over
	pending []byte // the start of a rewritten command, not handed over yet
	midLine bool   // the last octet handed over was not a LF

	cur      []byte // the command line being read, while it may be kept
	curOver  bool   // cur holds only the start of the line
	lastMail []byte // the last complete command line if it was a MAIL, else nil
	// greeted is set while the last command line was EHLO or HELO, and
	// when the wire is installed (inside go-smtp's EHLO handling), until
	// the first line of the reply.
	greeted bool
	// emptyChunk is set while the last command line was an empty BDAT
	// chunk that is not the last, handed over so that go-smtp refuses it
	// (refuseEmptyChunk), until its reply.
	emptyChunk bool
}

func (r *lineReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		r.observe(p[:n])
		return n, nil
	}
	if r.src.Buffered() == 0 {
		// Blocks for input; errors (EOF, a deadline, go-smtp's
		// ErrTooLongLine) pass through unchanged.
		if _, err := r.src.Peek(1); err != nil {
			return 0, err
		}
	}
	if r.skip > 0 {
		b, _ := r.src.Peek(int(min(int64(r.src.Buffered()), r.skip)))
		n := copy(p, b)
		r.src.Discard(n)
		if r.skip -= int64(n); r.skip == 0 {
			r.midLine = false // the next command starts after the chunk
		}
		return n, nil
	}
	if !r.raw && !r.midLine {
		if r.refuseEmptyChunk() {
			return r.Read(p)
		}
		if r.primary != "" && r.completePostmaster() {
			return r.Read(p)
		}
	}
	b, _ := r.src.Peek(r.src.Buffered())
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	}
	n := copy(p, b)
	r.src.Discard(n)
	r.observe(p[:n])
	return n, nil
}

// content is called with true before readDotted reads a DATA message
// from the wire and with false once it has: the message's lines are no
// commands. readDotted stops after the line "." has been handed over, so
// the next octet starts a command line.
func (r *lineReader) content(on bool) {
	r.raw = on
	r.midLine = false
	r.cur, r.curOver = r.cur[:0], false
}

// maxCommandLine bounds a MAIL or BDAT command line kept whole, beyond
// go-smtp's own line limit; the first bytes of other lines are kept.
const (
	maxCommandLine = maxLineLength + 16
	commandHead    = 8
)

// observe follows command lines as they are handed over, keeping whole
// the ones that start MAIL or BDAT.
func (r *lineReader) observe(b []byte) {
	if r.raw {
		return
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i+1]
		}
		if !r.curOver {
			r.cur = append(r.cur, part...)
			if len(r.cur) > maxCommandLine || len(r.cur) > commandHead && !isVerb(r.cur, "MAIL") && !isVerb(r.cur, "BDAT") {
				r.cur, r.curOver = r.cur[:commandHead], true
			}
		}
		if i < 0 {
			r.midLine = true
			return
		}
		r.midLine = false
		r.commandLine(r.cur, !r.curOver)
		r.cur, r.curOver = r.cur[:0], false
		b = b[i+1:]
	}
}

// replyWriter passes go-smtp's replies on, one line per write (go-smtp
// flushes after each; a line longer than the buffer comes in two), and
// rewrites some of them.
type replyWriter struct {
	dst     *bufio.Writer // go-smtp's own writer
	w       *wire
	midLine bool // the last write did not end a line
}

// sizeUnparsable is go-smtp's reply to a SIZE it cannot parse as a 32-bit
// number (conn.go, handleMail).
var sizeUnparsable = []byte("501 5.5.4 Unable to parse SIZE as an integer\r\n")

func (rw *replyWriter) Write(p []byte) (int, error) {
	out := p
	lines := rw.w.lines
	switch {
	case rw.midLine:
	case bytes.Equal(p, sizeUnparsable) && bigSize(lines.lastMail):
		// RFC 1870 6.1: a size the server cannot accept gets 552.
		rw.w.countRefusal(RefusedSize)
		e := tooBig(rw.w.limit)
		out = fmt.Appendf(nil, "%d %d.%d.%d %s\r\n", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
	case lines.greeted:
		out = greetReply(p, rw.w.hostname)
	case lines.emptyChunk && bytes.Equal(p, bdatUnknownArg):
		rw.w.countRefusal(RefusedSyntax)
		out = emptyChunkRefusal
		lines.emptyChunk = false
	default:
		if r, ok := libraryRefusal(p); ok {
			rw.w.countRefusal(r)
		}
	}
	if !rw.midLine {
		lines.greeted = false // only the reply's first line names the server
	}
	rw.midLine = !bytes.HasSuffix(p, []byte("\n"))
	if _, err := rw.dst.Write(out); err != nil {
		return 0, err
	}
	return len(p), rw.dst.Flush()
}

// go-smtp's own refusals, which it answers without calling the session:
// a declared SIZE or a BDAT chunk over MaxMessageBytes (conn.go,
// handleMail and handleBdat), and a RCPT over MaxRecipients (handleRcpt).
// Their texts differ from every reply of Pillarbox's sessions.
var (
	libSizeExceeded = []byte("552 5.3.4 Max message size exceeded\r\n")
	libTooManyRcpts = []byte("452 4.5.3 Maximum limit of ")
)

// libraryRefusal tells whether the reply line p is one of go-smtp's own
// refusals, and why.
func libraryRefusal(p []byte) (Refusal, bool) {
	switch {
	case bytes.Equal(p, libSizeExceeded):
		return RefusedSize, true
	case bytes.HasPrefix(p, libTooManyRcpts):
		return RefusedTooManyRcpts, true
	}
	return 0, false
}

// countRefusal counts a refusal the sessions did not see.
func (w *wire) countRefusal(r Refusal) {
	if w.metrics != nil {
		w.metrics.Refused(r)
	}
}

// bigSize reports whether a MAIL command line declares a SIZE that is a
// valid RFC 1870 size-value (1 to 20 digits). go-smtp only calls the
// session for sizes below 2^32, so such a line that got its "unparsable"
// reply carried a size beyond every limit. Like go-smtp, the last SIZE
// parameter counts.
func bigSize(line []byte) bool {
	if line == nil {
		return false
	}
	var size []byte
	found := false
	for _, f := range bytes.Fields(line) {
		k, v, ok := bytes.Cut(f, []byte("="))
		if ok && bytes.EqualFold(k, []byte("SIZE")) {
			size, found = v, true
		}
	}
	if !found || len(size) == 0 || len(size) > 20 {
		return false
	}
	for _, c := range size {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
