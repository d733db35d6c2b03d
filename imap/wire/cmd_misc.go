package wire

import (
	"strings"
)

// GetQuota is GETQUOTA root (RFC 9208).
type GetQuota struct {
	Base
	Root string
}

// SetQuota is SETQUOTA root (resource limit ...) (RFC 9208 section 4.1.3).
type SetQuota struct {
	Base
	Root   string
	Limits []QuotaLimit
}

// QuotaLimit is one resource of SETQUOTA; Resource is upper case.
type QuotaLimit struct {
	Resource string
	Limit    int64
}

// Notify is NOTIFY NONE or NOTIFY SET [STATUS] groups (RFC 5465).
type Notify struct {
	Base
	None   bool
	Status bool
	Groups []NotifyGroup
}

// NotifyGroup is one event-group.
type NotifyGroup struct {
	// Filter is SELECTED, SELECTED-DELAYED, INBOXES, PERSONAL,
	// SUBSCRIBED, SUBTREE or MAILBOXES (upper case).
	Filter    string
	Mailboxes []string // for SUBTREE and MAILBOXES
	// Events are the event names as sent, in upper case (MESSAGENEW,
	// MESSAGEEXPUNGE, FLAGCHANGE, ANNOTATIONCHANGE, MAILBOXNAME,
	// SUBSCRIPTIONCHANGE, MAILBOXMETADATACHANGE, SERVERMETADATACHANGE);
	// empty for NONE.
	Events []string
	// NewFetch holds the fetch attributes of "MessageNew (atts)", nil
	// when absent.
	NewFetch *Fetch
}

func (r *Reader) parseSetQuota(b Base) Command {
	r.sp()
	c := &SetQuota{Base: b, Root: r.astring(), Limits: []QuotaLimit{}}
	r.sp()
	r.list(true, func() {
		l := QuotaLimit{Resource: r.keyword()}
		r.sp()
		l.Limit = r.number64()
		c.Limits = append(c.Limits, l)
	})
	return c
}

func (r *Reader) parseNotify(b Base) Command {
	c := &Notify{Base: b}
	r.sp()
	switch r.keyword() {
	case "NONE":
		c.None = true
		return c
	case "SET":
	default:
		r.fail("Expected SET or NONE")
	}
	r.sp()
	if r.peekKeyword("STATUS") {
		c.Status = true
		r.sp()
	}
	for n := 0; ; n++ {
		if n >= r.opts.MaxItems {
			r.fail("Too many event groups")
		}
		c.Groups = append(c.Groups, r.notifyGroup())
		if !r.consume(' ') {
			return c
		}
	}
}

func (r *Reader) notifyGroup() NotifyGroup {
	var g NotifyGroup
	r.expect('(')
	r.enter()
	g.Filter = r.keyword()
	switch g.Filter {
	case "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED":
	case "SUBTREE", "MAILBOXES":
		r.sp()
		if r.peek() == '(' {
			r.list(false, func() { g.Mailboxes = append(g.Mailboxes, r.mailbox()) })
		} else {
			g.Mailboxes = []string{r.mailbox()}
		}
	default:
		r.fail("Unknown NOTIFY filter")
	}
	r.sp()
	if r.peek() != '(' {
		if r.keyword() != "NONE" {
			r.fail("Expected event list or NONE")
		}
	} else {
		r.list(false, func() {
			ev := r.keyword()
			switch ev {
			case "MESSAGENEW":
				// The fetch attributes are optional: " (" starts them,
				// " MessageExpunge" is the next event.
				if r.pos+1 < len(r.line) && r.line[r.pos] == ' ' && r.line[r.pos+1] == '(' {
					r.pos++
					f := &Fetch{}
					r.list(false, func() { r.fetchAtt(f) })
					g.NewFetch = f
				}
			case "MESSAGEEXPUNGE", "FLAGCHANGE", "ANNOTATIONCHANGE", "MAILBOXNAME",
				"SUBSCRIPTIONCHANGE", "MAILBOXMETADATACHANGE", "SERVERMETADATACHANGE":
			default:
				r.fail("Unknown NOTIFY event %s", strings.ToLower(ev))
			}
			g.Events = append(g.Events, ev)
		})
	}
	r.expect(')')
	r.leave()
	return g
}

// GetMetadata is GETMETADATA [(options)] mailbox entries (RFC 5464
// section 4.2); Mailbox "" means server annotations.
type GetMetadata struct {
	Base
	Mailbox string
	Entries []string
	MaxSize int64 // -1 when absent
	Depth   int   // 0, 1, or -1 for infinity
}

// SetMetadata is SETMETADATA mailbox (entry value ...) (RFC 5464 section
// 4.3). A NIL value (removal) has Value nil.
type SetMetadata struct {
	Base
	Mailbox string
	Entries []MetadataEntry
}

// MetadataEntry is one entry of SETMETADATA.
type MetadataEntry struct {
	Name  string
	Value []byte // nil for NIL
}

// metadataMailbox reads a mailbox where "" (the server) is allowed.
func (r *Reader) metadataMailbox() string {
	s := r.astring()
	if s == "" {
		return ""
	}
	return r.mailboxName(s, false)
}

// metadataEntry reads entry = astring, a slash-separated path (RFC 5464
// section 3.2: no "*", "%", "//", trailing "/", or control characters).
func (r *Reader) metadataEntry() string {
	e := r.astring()
	if !strings.HasPrefix(e, "/") || strings.HasSuffix(e, "/") || strings.Contains(e, "//") ||
		strings.ContainsAny(e, "*%") {
		r.fail("Invalid metadata entry name")
	}
	for i := 0; i < len(e); i++ {
		if e[i] < 0x20 || e[i] == 0x7f {
			r.fail("Invalid metadata entry name")
		}
	}
	return e
}

func (r *Reader) parseGetMetadata(b Base) Command {
	c := &GetMetadata{Base: b, MaxSize: -1}
	r.sp()
	if r.peek() == '(' {
		r.list(false, func() {
			switch r.keyword() {
			case "MAXSIZE":
				r.sp()
				c.MaxSize = r.number64()
			case "DEPTH":
				r.sp()
				switch r.keyword() {
				case "0":
					c.Depth = 0
				case "1":
					c.Depth = 1
				case "INFINITY":
					c.Depth = -1
				default:
					r.fail("Invalid DEPTH")
				}
			default:
				r.fail("Unknown GETMETADATA option")
			}
		})
		r.sp()
	}
	c.Mailbox = r.metadataMailbox()
	r.sp()
	if r.peek() == '(' {
		r.list(false, func() { c.Entries = append(c.Entries, r.metadataEntry()) })
	} else {
		c.Entries = []string{r.metadataEntry()}
	}
	return c
}

func (r *Reader) parseSetMetadata(b Base) Command {
	c := &SetMetadata{Base: b}
	r.sp()
	c.Mailbox = r.metadataMailbox()
	r.sp()
	r.list(false, func() {
		e := MetadataEntry{Name: r.metadataEntry()}
		r.sp()
		switch {
		case r.peek() == '"':
			e.Value = []byte(r.quoted())
		case r.atLiteral():
			e.Value = r.literalBytes(true)
		default:
			if r.keyword() != "NIL" {
				r.fail("Expected value or NIL")
			}
		}
		c.Entries = append(c.Entries, e)
	})
	return c
}
