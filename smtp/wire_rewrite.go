package smtp

import (
	"bytes"
	"strconv"
	"strings"

	gosmtp "github.com/emersion/go-smtp"
)

// Two of go-smtp's answers are corrected on the wire (wire.go), where the
// library cannot be reached otherwise:
//
//   - The reply to EHLO starts "250-Hello <client>"; RFC 5321 4.1.1.1
//     wants "250-<server's domain> <greeting>", and HELO's reply likewise
//     ("250 2.0.0 Hello <client>" carries an enhanced code too, which
//     RFC 2034 only allows after EHLO). The reply writer puts the
//     server's name first in the first reply line after an EHLO or HELO
//     command line. The wire is installed by go-smtp's NewSession, which
//     it calls inside its EHLO handling before writing the reply, so the
//     first EHLO of a connection, and the first after STARTTLS, are
//     rewritten too.
//   - "RCPT TO:<postmaster>" gets 501 from go-smtp's path parser, before
//     the session sees it, although RFC 5321 4.5.1 requires every server
//     to accept it, naming the postmaster of the server's (primary)
//     domain. The reader hands go-smtp "RCPT TO:<postmaster@primary>"
//     instead, and the session resolves that address like any other.
//     Rewriting the command is the only way in: go-smtp's reply cannot
//     be turned into an acceptance after the fact.
//
// Only command lines are touched: the reader follows command lines as it
// hands them over (one line per read), never looks at a DATA message
// while readDotted reads it (lineReader.content), and counts a BDAT
// chunk's octets from its command, with go-smtp's own parsing of it, so
// that the chunk passes unread. What go-smtp drains unread after a
// refused DATA is neither stored nor relayed.

// isVerb reports whether the command line (or its start) b is the command
// verb, which is in upper case, the way go-smtp's parseCmd reads it.
func isVerb(b []byte, verb string) bool {
	if len(b) < 4 || !bytes.EqualFold(b[:4], []byte(verb)) {
		return false
	}
	return len(b) == 4 || b[4] == ' ' || b[4] == '\r' || b[4] == '\n'
}

// commandLine records a complete command line handed to go-smtp; whole
// says whether line is all of it or only its start.
func (r *lineReader) commandLine(line []byte, whole bool) {
	r.greeted = isVerb(line, "EHLO") || isVerb(line, "HELO")
	r.lastMail = nil
	if !whole {
		return
	}
	if isVerb(line, "MAIL") {
		r.lastMail = append([]byte(nil), line...)
	}
	if n, ok := bdatSize(line); ok {
		r.skip = n
	}
}

// bdatSize returns the chunk size of a BDAT command line when go-smtp will
// read the chunk after it, which it does whenever it can parse the
// command (conn.go, handleBdat: also when it refuses the transaction).
// It parses as go-smtp does, so that both agree where the chunk ends.
func bdatSize(line []byte) (int64, bool) {
	s := strings.TrimRight(string(line), "\r\n")
	if len(s) < 6 || s[4] != ' ' || !strings.EqualFold(s[:4], "BDAT") {
		return 0, false
	}
	args := strings.Fields(strings.TrimSpace(s[5:]))
	if len(args) == 0 || len(args) > 2 || len(args) == 2 && !strings.EqualFold(args[1], "LAST") {
		return 0, false
	}
	n, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		return 0, false
	}
	return int64(n), true
}

// maxPostmasterBlanks bounds the white space matchPostmaster allows
// around "TO:"; a command with more keeps go-smtp's 501.
const maxPostmasterBlanks = 16

// Results of matchPostmaster.
const (
	pmNo   = iota // not RCPT TO:<postmaster>
	pmMore        // could be, once more octets arrive
	pmYes         // it is
)

// matchPostmaster looks at the start of a command line, b, for
// "RCPT TO:<postmaster>" in any case, with spaces or tabs after "RCPT "
// and after the colon (go-smtp trims both), and returns the offset of its
// ">" when it is there.
func matchPostmaster(b []byte) (gt int, res int) {
	pos := 0
	// lit matches s at pos, case-insensitively.
	lit := func(s string) int {
		n := min(len(s), len(b)-pos)
		if !bytes.EqualFold(b[pos:pos+n], []byte(s[:n])) {
			return pmNo
		}
		pos += n
		if n < len(s) {
			return pmMore
		}
		return pmYes
	}
	blanks := func() int {
		for i := 0; ; i++ {
			if pos == len(b) {
				return pmMore
			}
			if b[pos] != ' ' && b[pos] != '\t' {
				return pmYes
			}
			if i == maxPostmasterBlanks {
				return pmNo
			}
			pos++
		}
	}
	for _, step := range []func() int{
		func() int { return lit("RCPT ") },
		blanks,
		func() int { return lit("TO:") },
		blanks,
		func() int { return lit("<postmaster>") },
	} {
		if res := step(); res != pmYes {
			return 0, res
		}
	}
	return pos - 1, pmYes
}

// completePostmaster runs at the start of a command line. When the line
// is "RCPT TO:<postmaster>", it takes the octets up to the ">" and queues
// them with "@" and the primary domain for the next reads, and reports
// true. It waits for more of the line only while the line can still be
// that command, so it never waits for input past the line's end.
func (r *lineReader) completePostmaster() bool {
	for {
		b, _ := r.src.Peek(r.src.Buffered())
		gt, res := matchPostmaster(b)
		switch res {
		case pmNo:
			return false
		case pmYes:
			r.pending = append(append(append(r.pending[:0], b[:gt]...), '@'), r.primary...)
			r.src.Discard(gt)
			return true
		}
		if _, err := r.src.Peek(len(b) + 1); err != nil {
			// The error comes again at the next read.
			return false
		}
	}
}

// greetReply returns the first line of go-smtp's reply to EHLO or HELO
// with the server's name first (RFC 5321 4.1.1.1), or p unchanged if it
// is not such a reply.
func greetReply(p []byte, hostname string) []byte {
	if hostname == "" {
		return p
	}
	if rest, ok := bytes.CutPrefix(p, []byte("250-Hello ")); ok {
		return append([]byte("250-"+hostname+" Hello "), rest...)
	}
	if rest, ok := bytes.CutPrefix(p, []byte("250 2.0.0 Hello ")); ok {
		return append([]byte("250 "+hostname+" Hello "), rest...)
	}
	return p
}

// installWire puts a wire on c (newWire) with the server's names.
func (s *Server) installWire(c *gosmtp.Conn) *wire {
	w := newWire(c, s.opts.MaxMessageBytes)
	if w != nil {
		w.hostname = s.opts.Hostname
		w.metrics = s.opts.Metrics
		w.lines.primary = s.opts.PrimaryDomain
	}
	return w
}
