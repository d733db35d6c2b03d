package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"

	gosmtp "github.com/emersion/go-smtp"
)

// errBareNewline refuses a message with a CR or LF that is not part of a
// CRLF. RFC 5321 2.3.8 allows them only together; accepting them alone is
// what SMTP smuggling exploits (a receiver that ends data on a bare
// "\n.\n" sees a second message where the sender saw one). Postfix 3.9's
// smtpd_forbid_bare_newline gives the same reply.
var errBareNewline = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0},
	Message: "Bare CR or LF in message data, see RFC 5321 2.3.8"}

// readMessage reads the message of one DATA or BDAT transaction from r,
// the reader go-smtp gave Data, and appends it to dst. It returns the
// message's size, or the SMTP error to answer with; in every case the
// message has been read to its end, so the session can go on.
//
// For DATA, go-smtp's reader mis-frames (see wire.go), so the message is
// read from the wire below it with RFC 5321 4.5.2's framing instead. BDAT
// chunks carry their length and need no framing; they, and DATA when the
// wire is off, are checked for bare CR or LF afterwards.
func (w *wire) readMessage(r io.Reader, dst *bytes.Buffer, limit int64) (int64, error) {
	if w.current() && isDotReader(r) {
		if ll := lineLimit(w.conn); ll != nil {
			// go-smtp's limit would stop reading mid-message (wire.go);
			// readDotted applies it and reads on to the end.
			defer func(v int) { *ll = v }(*ll)
			*ll = 0
		}
		// The message's lines are no commands (wire_rewrite.go).
		w.lines.content(true)
		defer w.lines.content(false)
		// The DATA line was go-smtp's last read, so its reader holds
		// nothing yet: read the message from below it, in large reads,
		// rather than through lineReader's one line per read.
		src := w.br
		if w.br.Buffered() == 0 && len(w.lines.pending) == 0 {
			src = w.lines.src
		}
		n, err := readDotted(src, dst, limit, maxLineLength)
		return n, dataError(err)
	}
	start := dst.Len()
	n, err := dst.ReadFrom(r)
	if err != nil {
		return n, dataError(err)
	}
	if hasBareNewline(dst.Bytes()[start:]) {
		dst.Truncate(start)
		return n, errBareNewline
	}
	return n, nil
}

// dataError maps a failure to read a message to its reply.
func dataError(err error) error {
	var se *gosmtp.SMTPError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gosmtp.ErrDataTooLarge):
		return gosmtp.ErrDataTooLarge
	case errors.Is(err, gosmtp.ErrTooLongLine):
		return errLineTooLong
	case errors.Is(err, gosmtp.ErrDataReset):
		// The client ended a BDAT transfer; go-smtp answers nothing.
		return gosmtp.ErrDataReset
	case errors.As(err, &se):
		return se
	}
	return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Error reading message"}
}

// isDotReader reports whether r is go-smtp's DATA reader, which has not
// been read from yet and reads from the wire.
func isDotReader(r io.Reader) bool {
	t := reflect.TypeOf(r)
	return t != nil && t.Kind() == reflect.Pointer &&
		t.Elem().PkgPath() == "github.com/emersion/go-smtp" && t.Elem().Name() == "dataReader"
}

// readDotted reads a dot-stuffed message from br up to the line "."
// (RFC 5321 4.5.2) and appends it to dst with the stuffing dot removed.
// Lines end with CRLF only: a bare CR or LF is part of the line, and the
// message is refused once it has been read to its end. The final ".\r\n"
// is left unread: go-smtp drains its own reader after Data returns, and
// that reader, which has seen nothing yet, then ends at once.
//
// A message larger than limit, or with a line longer than maxLine octets
// (without its CRLF), is read to its end too, and refused with
// ErrDataTooLarge or ErrTooLongLine.
func readDotted(br *bufio.Reader, dst *bytes.Buffer, limit int64, maxLine int) (int64, error) {
	var n int64
	bare, tooBig, tooLong := false, false, false
	for {
		// At the start of a line.
		p, err := br.Peek(1)
		if err != nil {
			return n, unexpectedEOF(err)
		}
		if p[0] == '.' {
			if p, _ := br.Peek(3); string(p) == ".\r\n" {
				break
			}
			br.Discard(1)
		}
		cr := false  // the line so far ends with a CR
		lineLen := 0 // octets of the line so far
		for ended := false; !ended; {
			chunk, err := br.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull {
				return n, unexpectedEOF(err)
			}
			var ok bool
			ended, ok, cr = scanLine(chunk, cr)
			bare = bare || !ok
			lineLen += len(chunk)
			if ended {
				lineLen -= 2
			}
			tooLong = tooLong || lineLen > maxLine
			if bare || tooBig || tooLong {
				continue
			}
			if n+int64(len(chunk)) > limit {
				tooBig = true
				continue
			}
			dst.Write(chunk)
			n += int64(len(chunk))
		}
	}
	switch {
	case bare:
		return n, errBareNewline
	case tooLong:
		return n, gosmtp.ErrTooLongLine
	case tooBig:
		return n, gosmtp.ErrDataTooLarge
	}
	return n, nil
}

// scanLine checks one piece of a line, read up to and including a LF or
// as far as the buffer went, given whether the piece before ended with a
// CR. It reports whether the piece ends the line (with CRLF), whether it
// has no bare CR or LF, and whether it ends with a CR.
func scanLine(b []byte, cr bool) (ended, ok, endsCR bool) {
	if k := len(b); !cr && k >= 2 && b[k-1] == '\n' && bytes.IndexByte(b[:k-1], '\r') == k-2 {
		return true, true, false // the usual "text\r\n"
	}
	ok = true
	for _, c := range b {
		switch {
		case cr && c == '\n':
			ended = true
		case cr:
			ok = false // a CR not followed by LF
		case c == '\n':
			ok = false // a LF not preceded by CR
		}
		cr = c == '\r'
	}
	return ended, ok, cr
}

// hasBareNewline reports whether b has a CR or LF outside a CRLF.
func hasBareNewline(b []byte) bool {
	for i, c := range b {
		switch c {
		case '\r':
			if i+1 == len(b) || b[i+1] != '\n' {
				return true
			}
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				return true
			}
		}
	}
	return false
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
