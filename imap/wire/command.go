package wire

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// Command is one parsed command. The concrete types are the structs below
// and in the cmd_*.go files; a session switches on the type.
type Command interface {
	// CommandTag is the client's tag.
	CommandTag() string
	// CommandName is the command name in upper case ("FETCH", also for
	// UID FETCH: see the UID field of the struct).
	CommandName() string
}

// Base carries what every command has.
type Base struct {
	Tag  string
	Name string
}

func (b *Base) CommandTag() string  { return b.Tag }
func (b *Base) CommandName() string { return b.Name }

// The commands without arguments.
type (
	Capability     struct{ Base }
	Noop           struct{ Base }
	Logout         struct{ Base }
	StartTLS       struct{ Base }
	Idle           struct{ Base } // the session then reads "DONE" with ReadIdleDone
	Close          struct{ Base }
	Unselect       struct{ Base }
	Namespace      struct{ Base }
	Check          struct{ Base } // IMAP4rev1 only
	Unauthenticate struct{ Base } // RFC 8437
)

// Authenticate is AUTHENTICATE mechanism [initial-response] (RFC 9051
// section 6.2.2, RFC 4959 SASL-IR).
type Authenticate struct {
	Base
	Mechanism          string // upper case
	HasInitialResponse bool   // "=" gives an empty InitialResponse
	InitialResponse    []byte // decoded from base64
}

// Login is LOGIN userid password.
type Login struct {
	Base
	Username, Password string
}

// Enable is ENABLE capability... (RFC 5161); the names are upper-cased.
type Enable struct {
	Base
	Caps []string
}

// Compress is COMPRESS mechanism (RFC 4978); Mechanism is upper case.
type Compress struct {
	Base
	Mechanism string
}

// CancelUpdate is CANCELUPDATE tag... (RFC 5267 4.3).
type CancelUpdate struct {
	Base
	Tags []string
}

// ID is ID (params) or ID NIL (RFC 2971). Params keeps the client's order;
// a NIL value is "" with ValueNil set.
type ID struct {
	Base
	Params []IDParam // nil for ID NIL
}

// IDParam is one field of an ID command.
type IDParam struct {
	Key, Value string
	ValueNil   bool
}

func (r *Reader) parseCommand() Command {
	tag := r.run(isTagChar)
	if len(tag) == 0 || !r.consume(' ') {
		if r.atEnd() && len(tag) == 0 {
			r.fail("Empty command line")
		}
		r.fail("Invalid tag")
	}
	r.tag = string(tag)
	r.name = r.keyword()
	b := Base{Tag: r.tag, Name: r.name}
	uid := false
	if r.name == "UID" {
		r.sp()
		r.name = r.keyword()
		b.Name = r.name
		uid = true
		switch r.name {
		case "FETCH", "STORE", "COPY", "MOVE", "SEARCH", "SORT", "THREAD", "EXPUNGE":
		default:
			r.fail("Unknown UID command")
		}
	}
	var cmd Command
	switch r.name {
	case "CAPABILITY":
		cmd = &Capability{b}
	case "NOOP":
		cmd = &Noop{b}
	case "LOGOUT":
		cmd = &Logout{b}
	case "STARTTLS":
		cmd = &StartTLS{b}
	case "IDLE":
		cmd = &Idle{b}
	case "CLOSE":
		cmd = &Close{b}
	case "UNSELECT":
		cmd = &Unselect{b}
	case "NAMESPACE":
		cmd = &Namespace{b}
	case "CHECK":
		cmd = &Check{b}
	case "UNAUTHENTICATE":
		cmd = &Unauthenticate{b}
	case "AUTHENTICATE":
		cmd = r.parseAuthenticate(b)
	case "LOGIN":
		r.sp()
		u := r.astring()
		r.sp()
		cmd = &Login{Base: b, Username: u, Password: r.astring()}
	case "ENABLE":
		cmd = &Enable{Base: b, Caps: spaced(r, r.keyword)}
	case "COMPRESS":
		r.sp()
		cmd = &Compress{Base: b, Mechanism: r.keyword()}
	case "ID":
		cmd = r.parseID(b)
	case "SELECT", "EXAMINE":
		cmd = r.parseSelect(b)
	case "CREATE":
		cmd = r.parseCreate(b)
	case "DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "GETQUOTAROOT":
		cmd = r.parseMailboxOnly(b)
	case "RENAME":
		r.sp()
		from := r.mailbox()
		r.sp()
		cmd = &Rename{Base: b, From: from, To: r.mailbox()}
	case "LIST":
		cmd = r.parseList(b)
	case "LSUB":
		r.sp()
		ref := r.mailbox()
		r.sp()
		cmd = &Lsub{Base: b, Reference: ref, Pattern: r.listMailbox()}
	case "STATUS":
		cmd = r.parseStatus(b)
	case "APPEND":
		cmd = r.parseAppend(b)
	case "EXPUNGE":
		c := &Expunge{Base: b, UID: uid}
		if uid {
			r.sp()
			c.UIDs = r.uidSet().(imap.UIDSet) // "$" allowed (RFC 5182)
		}
		cmd = c
	case "SEARCH":
		cmd = r.parseSearch(b, uid)
	case "FETCH":
		cmd = r.parseFetch(b, uid)
	case "STORE":
		cmd = r.parseStore(b, uid)
	case "COPY", "MOVE":
		r.sp()
		set := r.numSet(uid)
		r.sp()
		cmd = &Copy{Base: b, UID: uid, Set: set, Mailbox: r.mailbox()}
	case "SORT":
		cmd = r.parseSort(b, uid)
	case "THREAD":
		cmd = r.parseThread(b, uid)
	case "GETQUOTA":
		r.sp()
		cmd = &GetQuota{Base: b, Root: r.astring()}
	case "SETQUOTA":
		cmd = r.parseSetQuota(b)
	case "NOTIFY":
		cmd = r.parseNotify(b)
	case "CANCELUPDATE":
		cmd = &CancelUpdate{Base: b, Tags: spaced(r, r.str)}
	case "GETMETADATA":
		cmd = r.parseGetMetadata(b)
	case "SETMETADATA":
		cmd = r.parseSetMetadata(b)
	default:
		r.fail("Unknown command")
	}
	if _, ok := cmd.(*Append); !ok {
		r.end()
	}
	return cmd
}

func (r *Reader) parseAuthenticate(b Base) Command {
	r.sp()
	c := &Authenticate{Base: b, Mechanism: r.keyword()}
	if r.consume(' ') {
		c.HasInitialResponse = true
		if r.consume('=') {
			c.InitialResponse = []byte{}
		} else {
			c.InitialResponse = r.base64()
		}
	}
	return c
}

// base64 reads the rest of the line as base64 (RFC 9051 section 9).
func (r *Reader) base64() []byte {
	b := r.line[r.pos:]
	out, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil || len(b) == 0 {
		r.fail("Invalid base64")
	}
	r.pos = len(r.line)
	return out
}

// ReadSASLResponse reads one client line of an AUTHENTICATE exchange: the
// base64 answer to a continuation request, decoded. "*" gives
// ErrSASLCancelled; bad base64 gives an *Error (answer BAD).
func (r *Reader) ReadSASLResponse() (resp []byte, err error) {
	r.used = 0
	defer func() {
		if v := recover(); v != nil {
			resp, err = nil, r.recovered(v)
		}
	}()
	r.readLine()
	if string(r.line) == "*" {
		return nil, ErrSASLCancelled
	}
	if len(r.line) == 0 {
		return []byte{}, nil
	}
	return r.base64(), nil
}

// ReadIdleDone reads the line that ends IDLE. It returns nil for "DONE"
// (any case) and an *Error otherwise (RFC 2177: the session then answers
// BAD and ends the IDLE).
func (r *Reader) ReadIdleDone() (err error) {
	r.used = 0
	defer func() {
		if v := recover(); v != nil {
			err = r.recovered(v)
		}
	}()
	r.readLine()
	if !strings.EqualFold(string(r.line), "DONE") {
		r.pos = 0
		r.fail("Expected DONE")
	}
	return nil
}

// Bounds of an ID command, well above RFC 2971's advice to clients.
const (
	maxIDParams = 64
	maxIDValue  = 64 << 10
)

func (r *Reader) parseID(b Base) Command {
	r.sp()
	c := &ID{Base: b}
	if r.peek() != '(' {
		if r.keyword() != "NIL" {
			r.fail("Expected parameter list or NIL")
		}
		return c
	}
	c.Params = []IDParam{}
	// RFC 2971 section 3.3 limits what a sender sends (30 pairs, keys of
	// 30 octets, values of 1024), but refusing an ID that goes past it
	// helps no one: the command only informs. A bound far above those
	// keeps one command's memory in check, beside the line and literal
	// limits. (imaptest's id test sends exactly the RFC's maxima, a
	// 32 KB line.)
	r.list(true, func() {
		if len(c.Params) >= maxIDParams {
			r.fail("Too many ID parameters")
		}
		k := r.str()
		r.sp()
		v, ok := r.nstring()
		if len(k) > maxIDValue || len(v) > maxIDValue {
			r.fail("ID parameter too long")
		}
		c.Params = append(c.Params, IDParam{Key: k, Value: v, ValueNil: !ok})
	})
	return c
}

// mailbox reads mailbox = "INBOX" / astring: INBOX in any case is INBOX
// (RFC 9051 section 5.1); other names are decoded from modified UTF-7, or
// taken as UTF-8 under UTF8=ACCEPT (RFC 6855 section 3).
func (r *Reader) mailbox() string {
	s := r.astring()
	return r.mailboxName(s, false)
}

func (r *Reader) mailboxName(s string, pattern bool) string {
	if strings.EqualFold(s, "INBOX") {
		return "INBOX"
	}
	if r.utf8 {
		if !utf8.ValidString(s) {
			r.fail("Invalid UTF-8 mailbox name")
		}
	} else {
		d, err := decodeMUTF7(s, r.utf8q)
		switch {
		case err == nil:
			s = d
		case r.name == "CREATE" || r.name == "RENAME" || r.name == "SETMETADATA":
			// A name being made must have one spelling.
			r.fail("Invalid modified UTF-7 mailbox name")
		case !utf8.ValidString(s):
			r.fail("Invalid mailbox name")
		default:
			// A name looked up or a pattern is taken as it is, as
			// Dovecot takes it: stored names were decoded, so it names
			// no mailbox (SELECT answers NO, LIST nothing) unless one
			// was made with that very spelling in UTF-8.
		}
	}
	// Control characters, raw or encoded, have no place in a name (RFC
	// 9051 section 5.1 lets the server refuse them).
	for _, c := range s {
		if c < 0x20 || (c >= 0x7f && c < 0xa0) {
			r.fail("Invalid character in mailbox name")
		}
	}
	return s
}

// listMailbox reads list-mailbox = 1*list-char / string, decoded like a
// mailbox name (wildcards are ASCII and survive decoding).
func (r *Reader) listMailbox() string {
	var s string
	switch r.peek() {
	case '"', '{':
		s = r.str()
	default:
		b := r.run(isListChar)
		if len(b) == 0 {
			r.fail("Expected mailbox pattern")
		}
		s = string(b)
	}
	if s == "" {
		return ""
	}
	return r.mailboxName(s, true)
}

// spaced reads 1*(SP item), at most MaxItems of them: ENABLE's
// capabilities, CANCELUPDATE's tags.
func spaced(r *Reader, item func() string) []string {
	var out []string
	for r.consume(' ') {
		if len(out) >= r.opts.MaxItems {
			r.fail("Too many arguments")
		}
		out = append(out, item())
	}
	if len(out) == 0 {
		r.fail("Missing argument")
	}
	return out
}
