package wire

// Options bounds what a Reader accepts. Every zero value means the default
// written beside the field; the bounds exist so that one connection's memory
// stays bounded whatever the client sends.
type Options struct {
	// MaxLineLength is the longest line (the bytes between two CRLFs, or
	// between a literal and the next CRLF) accepted. A longer line is a
	// fatal error: the command cannot be found again. Zero means 64 KiB.
	MaxLineLength int

	// MaxLiteralPreAuth bounds every literal before authentication (LOGIN
	// with literals, APPEND attempted too early). Zero means 8 KiB.
	MaxLiteralPreAuth int64

	// MaxLiteral bounds a literal string in a command after authentication,
	// other than an APPEND message. Zero means 1 MiB.
	MaxLiteral int64

	// MaxAppendSize bounds one APPEND message (or CATENATE TEXT part) after
	// authentication; the session sets it to its APPENDLIMIT. Zero means
	// 64 MiB.
	MaxAppendSize int64

	// MaxCommandSize bounds the bytes one command may make the Reader hold:
	// its lines plus its buffered literals (APPEND bodies are streamed and
	// do not count). Zero means 4 MiB.
	MaxCommandSize int64

	// MaxCommandSizePreAuth is MaxCommandSize before authentication: a
	// client nobody knows yet may make the server hold no more than this
	// for one command, literals included, whatever the command (one that
	// needs a login is read whole before it is refused). Dovecot bounds
	// pre-login input the same way (imap_max_line_length, 64 KiB). Zero
	// means 64 KiB; it is never more than MaxCommandSize.
	MaxCommandSizePreAuth int64

	// MaxDepth bounds the nesting of parenthesised lists and of search keys
	// (each NOT and OR counts). Zero means 32.
	MaxDepth int

	// MaxItems bounds the number of elements of any one list, sequence set
	// (ranges), or search program (keys). Zero means 10000.
	MaxItems int

	// MaxSkip is the largest rejected non-synchronising literal (RFC 7888)
	// the Reader will read and throw away so that the connection can go on;
	// above it the error is fatal. Zero means 64 KiB.
	MaxSkip int64

	// LiteralMinus makes the Reader apply RFC 7888 LITERAL- semantics: a
	// non-synchronising literal over 4096 bytes is refused. Zero (false)
	// means LITERAL+: any size up to the limits above.
	LiteralMinus bool
}

func (o Options) withDefaults() Options {
	if o.MaxLineLength <= 0 {
		o.MaxLineLength = 64 << 10
	}
	if o.MaxLiteralPreAuth <= 0 {
		o.MaxLiteralPreAuth = 8 << 10
	}
	if o.MaxLiteral <= 0 {
		o.MaxLiteral = 1 << 20
	}
	if o.MaxAppendSize <= 0 {
		o.MaxAppendSize = 64 << 20
	}
	if o.MaxCommandSize <= 0 {
		o.MaxCommandSize = 4 << 20
	}
	if o.MaxCommandSizePreAuth <= 0 {
		o.MaxCommandSizePreAuth = 64 << 10
	}
	o.MaxCommandSizePreAuth = min(o.MaxCommandSizePreAuth, o.MaxCommandSize)
	if o.MaxDepth <= 0 {
		o.MaxDepth = 32
	}
	if o.MaxItems <= 0 {
		o.MaxItems = 10000
	}
	if o.MaxSkip <= 0 {
		o.MaxSkip = 64 << 10
	}
	return o
}
