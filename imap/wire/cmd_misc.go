package wire

import "strings"

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
				if r.consume(' ') {
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
