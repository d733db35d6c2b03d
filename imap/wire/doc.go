// Package wire reads IMAP4rev2/IMAP4rev1 commands and writes responses,
// following the formal syntax of RFC 9051 section 9 and RFC 3501 section 9
// and the extensions Pillarbox serves. It knows nothing of mailboxes or
// sessions: the session layer owns one Reader and one Writer per
// connection and uses go-imap v2's imap package as vocabulary (number
// sets, flags, fetch, search, status and list options).
//
// # Reading
//
// NewReader wraps the connection's bufio.Reader with a continuation
// callback and Options (every bound has a default). ReadCommand returns one
// of the command structs (*Login, *Select, *Fetch, *Search, *Append, ...;
// switch on the type) or an error:
//
//   - *Error: answer with Writer.ErrorResponse (TAG BAD reason, or
//     TAG NO [TOOBIG] for a literal over the limit). If Fatal is false the
//     Reader has dropped the rest of the command (skipping a rejected
//     non-synchronising literal on the next ReadCommand) and the connection
//     goes on; if true (line over MaxLineLength, non-synchronising literal
//     over MaxSkip) send BYE and close.
//   - anything else: an I/O error of the connection.
//
// A synchronising literal is checked against the bound for the state
// (SetAuthenticated) before the continuation callback runs, so a refused
// literal never gets "+" and its bytes are never awaited. LITERAL+ ({n+})
// and, with Options.LiteralMinus, LITERAL- (RFC 7888: the same syntax, at
// most 4096 bytes) need no continuation. Binary literals ~{n} (RFC 3516)
// are accepted only for APPEND data.
//
// APPEND is streamed: ReadCommand returns *Append once the mailbox is read;
// Reader.NextAppendMessage then returns each message (MULTIAPPEND, RFC
// 3502) with its flags, date and Body, an io.Reader over the literal
// bounded by MaxAppendSize; CATENATE (RFC 4469) parts come from
// Reader.NextCatPart. A session that gives up in the middle just answers
// and calls ReadCommand, which skips the rest. AUTHENTICATE exchanges use
// ReadSASLResponse; IDLE's end uses ReadIdleDone.
//
// Mailbox names are decoded from modified UTF-7 (RFC 3501 section 5.1.3,
// only the canonical form is accepted), or taken as UTF-8 once the session
// calls SetUTF8Accept after ENABLE UTF8=ACCEPT; INBOX is matched in any
// case. Sequence sets are imap.SeqSet or imap.UIDSet with "*" as 0, kept
// in the order sent (not merged); "$" (RFC 5182) is imap.SearchRes().
//
// Commands parsed: CAPABILITY, NOOP, LOGOUT, STARTTLS, AUTHENTICATE
// (SASL-IR), LOGIN, ENABLE, ID, COMPRESS, UNAUTHENTICATE, SELECT/EXAMINE
// (CONDSTORE, QRESYNC), CREATE (USE), DELETE, RENAME, SUBSCRIBE,
// UNSUBSCRIBE, LIST (RFC 5258 selection/return options, RFC 5819 STATUS,
// RFC 6154 SPECIAL-USE), LSUB, NAMESPACE, STATUS (incl. SIZE, DELETED,
// HIGHESTMODSEQ, APPENDLIMIT, DELETED-STORAGE, MAILBOXID), APPEND, IDLE,
// CHECK, CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE, SEARCH (ESEARCH RETURN,
// SAVE, the RFC 9051 keys plus MODSEQ, OLDER/YOUNGER, SAVED*,
// EMAILID/THREADID), FETCH (macros, every fetch-att incl. BINARY, MODSEQ,
// PREVIEW, EMAILID, THREADID, SAVEDATE; CHANGEDSINCE, VANISHED), STORE
// (UNCHANGEDSINCE), COPY, MOVE, SORT (ESORT RETURN), THREAD, GETQUOTA,
// GETQUOTAROOT, SETQUOTA, NOTIFY, GETMETADATA, SETMETADATA.
//
// SEARCH and SORT also take the RETURN options UPDATE and CONTEXT (RFC
// 5267) and PARTIAL (RFC 9394) in ReturnExt; CANCELUPDATE is parsed.
//
// Not parsed, answered BAD: the ACL commands (RFC 4314), URLAUTH
// (GENURLAUTH, RESETKEY, URLFETCH), ESEARCH's SEARCH IN (RFC 7377),
// FUZZY (RFC 6203), APPEND's UTF8 data item (RFC 6855), SELECT
// parameters other than CONDSTORE and QRESYNC, LIST options other than
// those named above, FETCH modifiers other than CHANGEDSINCE and VANISHED.
//
// # Writing
//
// NewWriter wraps the connection's bufio.Writer. StatusResponse,
// ErrorResponse and Continue write whole lines; for data responses the
// session writes the tokens itself (Untagged, Token, SP, CRLF) and the data
// through methods that pick a valid form: Number, Number64, NIL, AString,
// String, NString (atom, quoted or literal by content: never a quoted
// string with CR, LF or NUL, nor 8-bit unless UTF8=ACCEPT), Mailbox,
// Flags, NumSet, DateTime, Literal and BinaryLiteral (streamed from an
// io.Reader into the buffer without allocating). A normal literal must not
// carry NUL (RFC 9051 section 4.3): FETCH checks the data first with
// HasNUL and chooses base64 or, for BINARY, a binary literal; Literal
// itself reports ErrNULInLiteral as a last guard. Nothing is sent until
// Flush.
package wire
