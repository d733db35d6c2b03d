package wire

import (
	"errors"
	"fmt"
)

// Error is a command the Reader could not accept. The session answers it
// with one tagged response (untagged "* BAD" when Tag is empty):
//
//	TAG BAD Reason            (NO false, Code empty)
//	TAG NO [TOOBIG] Reason    (NO true, Code "TOOBIG")
//	TAG NO [LIMIT] Reason     (NO true, Code "LIMIT": nesting past MaxDepth)
//
// and then either goes on reading commands (Fatal false: the Reader has
// already skipped the rest of the command, or will skip it on the next
// ReadCommand) or closes the connection after a BYE (Fatal true: the
// framing is lost, for example a line over the limit or a non-synchronising
// literal too large to skip).
type Error struct {
	Tag     string // the command's tag, "" if it could not be read
	Command string // the command name in upper case, "" if not read
	NO      bool   // answer NO rather than BAD
	Code    string // response code without brackets, e.g. "TOOBIG"
	Reason  string // short human text for the response
	Fatal   bool   // the connection cannot go on
}

func (e *Error) Error() string {
	s := "wire: "
	if e.Command != "" {
		s += e.Command + ": "
	}
	s += e.Reason
	if e.Fatal {
		s += " (fatal)"
	}
	return s
}

// ErrNULInLiteral is returned by a Literal's Read when a normal (not
// binary) literal carries a NUL byte, which RFC 9051 section 4.3 forbids.
var ErrNULInLiteral = errors.New("wire: NUL byte in a non-binary literal")

// ErrSASLCancelled is returned by ReadSASLResponse when the client answers
// "*" (RFC 9051 section 6.2.2).
var ErrSASLCancelled = errors.New("wire: SASL exchange cancelled by the client")

// parseError is thrown (panicked) inside the recursive-descent parser and
// caught by the entry points, which turn it into an *Error. It never leaves
// the package.
type parseError struct {
	no     bool
	code   string
	reason string
	fatal  bool
	skip   int64 // bytes of a non-synchronising literal to discard
	io     error // an I/O error from the connection, returned as is
}

func (p *Reader) fail(format string, args ...any) {
	panic(&parseError{reason: fmt.Sprintf(format, args...)})
}

func (p *Reader) failIO(err error) {
	panic(&parseError{io: err, fatal: true})
}
