package imap

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"strconv"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// IMAP allows NUL only in a literal8 (RFC 9051 section 9: CHAR8 and
// TEXT-CHAR exclude it; section 4.3.1 for literal8). go-imap beta.8 lets
// a NUL through into a mailbox name, where its modified UTF-7 decoder
// fails with an error that is neither a syntax error nor an imap.Error:
// the command gets NO [SERVERBUG], and when the name was a literal the
// rest of the command line is left unread and taken for the next
// command, which closes the connection.
//
// nulGuard sits between go-imap's decoder and the connection (see
// connBuffers) and follows the client's framing: lines, and the literals
// that the library asked for. At a NUL outside a literal8 it makes the
// library's next read fail with errNUL, an imap.Error, which the library
// answers as it is: BAD. Then it keeps the library in step with the
// client: in a literal (the library stops reading a command after a
// failed literal) it drops the rest of the command; in a line (the
// library reads on to the end of the line) it passes the rest of the line
// on, where the NUL itself blocks any successful parse, and drops only
// the non-synchronizing literals that may follow. APPEND's message
// literal is passed on untouched (its content is the mailbox layer's
// business), and so is a line that answers a continuation request
// (AUTHENTICATE's SASL responses, IDLE's DONE), which the library reads
// by itself and refuses on its own.
//
// The guard hands the library at most one line per read, so that it
// knows, at the start of each line, whether the library has asked for
// more with "+" in between (see contWatch).
var errNUL = &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug,
	Text: "NUL is only allowed in a literal8 (RFC 9051 section 4.3.1)"}

type guardMode int

const (
	modeLine    guardMode = iota // in a command line
	modeLiteral                  // in a literal the library reads
	modeSkip                     // dropping the rest of a refused command
)

// nulGuard is one connection's guard. It is used by the connection's
// goroutine only, except conts, which any writer of a response updates.
type nulGuard struct {
	src   *bufio.Reader // what the library read from before
	tls   bool          // the connection was TLS when the guard was installed
	conts atomic.Uint64 // continuation requests ("+ ...") written

	mode      guardMode
	remaining int64 // bytes left in the literal (modeLiteral), or to drop (modeSkip)
	str       bool  // the literal is a string, where NUL is refused
	failed    bool  // this command was refused: drop what follows this line
	inject    bool  // fail the next read with errNUL

	lineEnded bool   // the last read ended a line
	contsAt   uint64 // conts when it did
	passLine  bool   // this line answers a "+": passed on untouched

	// A synchronizing literal is only sent once the library asks for it
	// with "+"; the library may refuse it instead.
	pending    bool
	pendingN   int64
	pendingStr bool

	firstLine bool   // in the command's first line
	head      []byte // the start of the first line: tag and command name
	isAppend  bool
	lits      int    // literals in this command so far
	tail      []byte // the end of the current line: a literal marker
}

const (
	maxGuardHead = 256
	maxGuardTail = 32
)

// installGuard puts a guard under c's reader and a continuation counter
// under its writer. It returns nil if go-imap's Conn cannot be reached.
// It must run while the library is between two commands and its reader
// holds nothing of a command in progress: when the session is created,
// or in Login.
func installGuard(c *imapserver.Conn) *nulGuard {
	br, bw := connBuffers(c)
	if br == nil {
		return nil
	}
	_, isTLS := c.NetConn().(*tls.Conn)
	g := &nulGuard{src: *br, tls: isTLS, firstLine: true}
	*br = bufio.NewReader(g)
	*bw = bufio.NewWriter(&contWatch{dst: *bw, g: g})
	return g
}

// stale reports whether STARTTLS has since reset the library's reader and
// writer to the TLS connection, leaving the guard out.
func (g *nulGuard) stale(c *imapserver.Conn) bool {
	_, isTLS := c.NetConn().(*tls.Conn)
	return g != nil && isTLS && !g.tls
}

func (g *nulGuard) Read(p []byte) (int, error) {
	if g.inject {
		g.inject = false
		return 0, errNUL
	}
	if g.lineEnded {
		g.lineEnded = false
		asked := g.conts.Load() != g.contsAt
		switch {
		case g.pending && asked:
			g.mode, g.remaining, g.str = modeLiteral, g.pendingN, g.pendingStr
		case g.pending:
			g.endCommand() // refused: the client sends the next command
		case asked && g.mode == modeLine:
			g.passLine = true
		}
		g.pending = false
	}
	n := 0
	for n < len(p) {
		if g.src.Buffered() == 0 {
			if n > 0 {
				break
			}
			if _, err := g.src.Peek(1); err != nil {
				return 0, err
			}
		}
		in, _ := g.src.Peek(g.src.Buffered())
		used, delivered, stop := g.step(in, p[n:])
		g.src.Discard(used)
		n += delivered
		if stop {
			break
		}
	}
	if n == 0 && g.inject {
		g.inject = false
		return 0, errNUL
	}
	return n, nil
}

// step consumes a prefix of in, copying what the library is to see into
// out. stop ends the read: before a NUL, or at the end of a line, so that
// the library answers the line before the guard decides what comes next.
func (g *nulGuard) step(in, out []byte) (used, delivered int, stop bool) {
	switch g.mode {
	case modeLiteral:
		chunk := in[:min(int64(len(in)), int64(len(out)), g.remaining)]
		if g.str {
			if i := bytes.IndexByte(chunk, 0); i == 0 {
				g.mode, g.inject = modeSkip, true
				g.tail = g.tail[:0]
				return 0, 0, true
			} else if i > 0 {
				chunk = chunk[:i]
			}
		}
		copy(out, chunk)
		g.remaining -= int64(len(chunk))
		if g.remaining == 0 {
			g.mode = modeLine // the command line goes on after the literal
			g.tail = g.tail[:0]
		}
		return len(chunk), len(chunk), false
	case modeSkip:
		if g.remaining > 0 {
			k := min(int64(len(in)), g.remaining)
			g.remaining -= k
			return int(k), 0, false
		}
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			g.keep(in)
			return len(in), 0, false
		}
		g.keep(in[:i+1])
		g.lineEnd()
		return i + 1, 0, false
	}
	chunk := in[:min(len(in), len(out))]
	if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
		chunk = chunk[:i+1]
	}
	if !g.failed && !g.passLine {
		if i := bytes.IndexByte(chunk, 0); i == 0 {
			// The NUL itself goes to the library after the error.
			g.failed, g.inject = true, true
			return 0, 0, true
		} else if i > 0 {
			chunk = chunk[:i]
		}
	}
	copy(out, chunk)
	if chunk[len(chunk)-1] != '\n' {
		g.keep(chunk)
		return len(chunk), len(chunk), false
	}
	if g.passLine {
		g.passLine = false
		g.endCommand()
	} else {
		g.keep(chunk)
		g.lineEnd()
	}
	g.lineEnded, g.contsAt = true, g.conts.Load()
	return len(chunk), len(chunk), true
}

// keep remembers the start of a command's first line and the end of the
// current line.
func (g *nulGuard) keep(b []byte) {
	if g.firstLine && len(g.head) < maxGuardHead {
		g.head = append(g.head, b[:min(len(b), maxGuardHead-len(g.head))]...)
	}
	g.tail = append(g.tail, b...)
	if len(g.tail) > maxGuardTail {
		g.tail = append(g.tail[:0], g.tail[len(g.tail)-maxGuardTail:]...)
	}
}

// lineEnd decides what follows a line: the next command, or a literal of
// this one.
func (g *nulGuard) lineEnd() {
	n, nonSync, binary, ok := parseLiteralMarker(g.tail)
	first := g.firstLine
	if first {
		g.isAppend = commandIs(g.head, "APPEND")
		g.firstLine = false
	}
	g.tail = g.tail[:0]
	if !ok {
		g.endCommand()
		return
	}
	// A literal is a string (mailbox, pattern, search key, password)
	// unless it is binary or APPEND's message; APPEND's mailbox is a
	// literal only as "tag APPEND {n}".
	str := !binary && (!g.isAppend || (first && g.lits == 0 && len(bytes.Fields(g.head)) == 3))
	g.lits++
	if g.failed || g.mode == modeSkip {
		if nonSync {
			g.mode, g.remaining = modeSkip, n
		} else {
			g.endCommand() // the client waits for a "+" that will not come
		}
		return
	}
	if nonSync {
		g.mode, g.remaining, g.str = modeLiteral, n, str
		return
	}
	g.pending, g.pendingN, g.pendingStr = true, n, str
}

func (g *nulGuard) endCommand() {
	g.mode, g.remaining, g.failed = modeLine, 0, false
	g.firstLine, g.isAppend, g.lits = true, false, 0
	g.head, g.tail = g.head[:0], g.tail[:0]
}

// commandIs reports whether a command line's name (after the tag) is name.
func commandIs(line []byte, name string) bool {
	f := bytes.Fields(line)
	return len(f) >= 2 && bytes.EqualFold(f[1], []byte(name))
}

// parseLiteralMarker reads the literal announced at the end of a line
// (RFC 9051 section 9: "{" number64 ["+"] "}" CRLF, "~" before it for a
// literal8), as go-imap reads it: a space before the CRLF and a bare LF
// are accepted.
func parseLiteralMarker(line []byte) (n int64, nonSync, binary, ok bool) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	line = bytes.TrimSuffix(line, []byte(" "))
	if !bytes.HasSuffix(line, []byte("}")) {
		return 0, false, false, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false, false, false
	}
	num := line[i+1 : len(line)-1]
	num, nonSync = bytes.CutSuffix(num, []byte("+"))
	if len(num) == 0 || num[0] < '0' || num[0] > '9' {
		return 0, false, false, false
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return 0, false, false, false
	}
	return n, nonSync, i > 0 && line[i-1] == '~', true
}

// contWatch counts the continuation requests ("+ ...") go-imap writes.
// The writer in front of it passes long responses on in chunks that may
// start anywhere, so a chunk's first byte says nothing: it follows the
// response framing instead, lines and the literals ("{n}" at a line's
// end, then n bytes of message) that FETCH responses carry, and counts a
// "+" only at the start of a response line.
type contWatch struct {
	dst *bufio.Writer // the library's writer
	g   *nulGuard

	midLine bool   // not at the start of a response line
	skip    int64  // bytes of a literal still to pass
	tail    []byte // the end of the current line, for a literal marker
}

// contTail bounds what contWatch keeps of a line: enough for "~{n}\r".
const contTail = 32

func (w *contWatch) Write(p []byte) (int, error) {
	w.observe(p)
	n, err := w.dst.Write(p)
	if err != nil {
		return n, err
	}
	return n, w.dst.Flush()
}

func (w *contWatch) observe(p []byte) {
	for len(p) > 0 {
		if w.skip > 0 {
			n := min(int64(len(p)), w.skip)
			w.skip -= n
			p = p[n:]
			continue
		}
		if !w.midLine {
			if p[0] == '+' {
				w.g.conts.Add(1)
			}
			w.midLine = true
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.keep(p)
			return
		}
		w.keep(p[:i])
		p = p[i+1:]
		// After a literal the response line goes on; otherwise a new
		// line starts.
		n, _, _, ok := parseLiteralMarker(w.tail)
		w.skip, w.midLine = n, ok
		w.tail = w.tail[:0]
	}
}

// keep appends b to the line's tail, keeping its last contTail bytes.
func (w *contWatch) keep(b []byte) {
	if len(b) > contTail {
		b = b[len(b)-contTail:]
	}
	w.tail = append(w.tail, b...)
	if len(w.tail) > contTail {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-contTail:]...)
	}
}

// guardedSession installs the guard again at login when STARTTLS has
// reset the library's reader and writer since the session began. A login
// is the first point after STARTTLS where the library is between commands
// and calls the session, and every command that takes a mailbox name
// comes after it.
type guardedSession struct {
	*session
	guard *nulGuard
}

var (
	_ imapserver.SessionIMAP4rev2   = (*guardedSession)(nil)
	_ imapserver.SessionAppendLimit = (*guardedSession)(nil)
)

func (s *guardedSession) Login(username, password string) error {
	if s.guard.stale(s.conn) {
		s.guard = installGuard(s.conn)
	}
	return s.session.Login(username, password)
}
