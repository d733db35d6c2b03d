package sortthread

import (
	"strings"
	"time"
)

// Address is the first address of a From, To or Cc header as ENVELOPE lists
// it (RFC 3501 section 7.4.2), decoded by the caller; the zero value means
// the header is missing or names no mailbox. When the header starts with a
// group ("undisclosed: a@b, c@d;" or "empty:;"), ENVELOPE's first address is
// the group's start marker, and so is this: Mailbox holds the group's name,
// Name and Host are empty. SORT (TO) then compares the group name, as
// Dovecot does and imaptest's sort-addresses and sort-display-to expect.
type Address struct {
	// Name is the display name (addr-name), decoded from RFC 2047 encoded
	// words to UTF-8, or empty.
	Name string
	// Mailbox is the local part (addr-mailbox), without quoting, or a
	// group's name.
	Mailbox string
	// Host is the domain (addr-host), or empty (a group, or an address
	// without a domain).
	Host string
}

// Message is what SORT and THREAD need of one message. The caller fills every
// field it has; a zero field means "missing" and is treated as RFC 5256 says
// for a missing header.
type Message struct {
	// UID and Seq are the message's UID and its sequence number in the
	// session's view. Seq breaks every tie (RFC 5256 section 3), and THREAD
	// REFERENCES gives a duplicated Message-ID to the lowest Seq; the caller
	// must give each message a distinct Seq.
	UID uint32
	Seq uint32
	// InternalDate is the INTERNALDATE (arrival): the ARRIVAL key, and the
	// sent date when Date is zero.
	InternalDate time.Time
	// Date is the parsed Date header, or the zero time when the header is
	// missing or cannot be parsed (RFC 5256 section 2.2 then falls back to
	// InternalDate). Its zone does not matter: instants are compared. Parse
	// leniently: go-message's mail.Header.Date refuses a comment before the
	// zone ("00:19:00 (EDT) -0400"), which Dovecot accepts.
	Date time.Time
	// Size is RFC822.SIZE, the SIZE key.
	Size int64
	// Subject is the raw, unfolded or folded, Subject header value, still
	// holding its RFC 2047 encoded words: BaseSubject decodes it.
	Subject string
	// From, To and Cc are the first address of each header.
	From, To, Cc Address
	// MessageID, InReplyTo and References are the raw header values
	// (comments, folding and all); only THREAD REFERENCES reads them.
	MessageID  string
	InReplyTo  string
	References string
}

// sentDate is the date RFC 5256 section 2.2 sorts and threads by.
func (m *Message) sentDate() time.Time {
	if m.Date.IsZero() {
		return m.InternalDate
	}
	return m.Date
}

// nextMsgID returns the first valid msg-id in s (RFC 5322 section 3.6.4,
// "<" id-left "@" id-right ">") with folding whitespace removed, and the rest
// of s after it. Comments and quoted strings outside the angle brackets are
// skipped, so an address or a phrase in In-Reply-To is not taken for an id.
// ok is false when s holds no further valid msg-id.
func nextMsgID(s string) (id, rest string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			i = skipComment(s, i)
		case '"':
			i = skipQuoted(s, i)
		case '<':
			end := strings.IndexByte(s[i+1:], '>')
			if end < 0 {
				return "", "", false
			}
			raw := s[i+1 : i+1+end]
			rest = s[i+1+end+1:]
			if id, ok := cleanMsgID(raw); ok {
				return id, rest, true
			}
			// Not an id: skip all of it, as Dovecot does, so that
			// "<broken <id@host>" yields nothing.
			i += end + 1
		}
	}
	return "", "", false
}

// skipComment returns the index of the ')' closing the (nested) comment that
// opens at s[i], or len(s)-1 when it is not closed.
func skipComment(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(s) - 1
}

// skipQuoted returns the index of the '"' closing the quoted string that
// opens at s[i], or len(s)-1 when it is not closed.
func skipQuoted(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(s) - 1
}

// cleanMsgID checks the text between '<' and '>' and drops folding
// whitespace, which RFC 5322 allows around the '@' in the obsolete syntax.
// The id is compared byte for byte afterwards (RFC 5256 section 3 compares
// Message IDs exactly).
func cleanMsgID(raw string) (string, bool) {
	at, space := -1, false
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case ' ', '\t', '\r', '\n':
			space = true
		case '<', '(':
			return "", false
		case '@':
			at = i
		}
	}
	if space {
		raw = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, raw)
		at = strings.LastIndexByte(raw, '@')
	}
	if at <= 0 || at == len(raw)-1 {
		return "", false
	}
	return raw, true
}

// references returns the message's references in order (RFC 5256 section
// 3, REFERENCES step 1): the valid ids of References, or else the first valid
// id of In-Reply-To. It appends to dst to spare an allocation per message.
func (m *Message) references(dst []string) []string {
	dst = dst[:0]
	for s := m.References; ; {
		id, rest, ok := nextMsgID(s)
		if !ok {
			break
		}
		dst = append(dst, id)
		s = rest
	}
	if len(dst) == 0 {
		if id, _, ok := nextMsgID(m.InReplyTo); ok {
			dst = append(dst, id)
		}
	}
	return dst
}
