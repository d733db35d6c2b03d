package wire

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Select is SELECT or EXAMINE (ReadOnly) with the RFC 4466 parameters this
// parser knows: CONDSTORE and QRESYNC (RFC 7162 section 3.2.5).
type Select struct {
	Base
	Mailbox   string
	ReadOnly  bool // EXAMINE
	CondStore bool
	QResync   *QResync
}

// QResync is the QRESYNC select parameter: (uidvalidity modseq
// [known-uids] [(known-sequence-set known-uid-set)]).
type QResync struct {
	UIDValidity uint32
	ModSeq      uint64
	KnownUIDs   imap.UIDSet // nil when absent
	SeqMatch    *SeqMatch   // nil when absent
}

// SeqMatch is seq-match-data of RFC 7162.
type SeqMatch struct {
	Seqs imap.SeqSet
	UIDs imap.UIDSet
}

// Create is CREATE mailbox [(USE (attrs))] (RFC 6154 section 3).
type Create struct {
	Base
	Mailbox    string
	SpecialUse []imap.MailboxAttr
}

// Delete, Subscribe, Unsubscribe and GetQuotaRoot take one mailbox.
type (
	Delete       struct{ MailboxArg }
	Subscribe    struct{ MailboxArg }
	Unsubscribe  struct{ MailboxArg }
	GetQuotaRoot struct{ MailboxArg }
)

// MailboxArg is a command whose only argument is a mailbox.
type MailboxArg struct {
	Base
	Mailbox string
}

// Rename is RENAME from to.
type Rename struct {
	Base
	From, To string
}

// List is LIST, extended by RFC 5258 (selection and return options, several
// patterns), RFC 5819 (RETURN STATUS) and RFC 6154 (SPECIAL-USE).
type List struct {
	Base
	Reference string
	Patterns  []string
	Options   imap.ListOptions
	// Extended is set when the client used any RFC 5258 syntax; the reply
	// then follows the extended rules (for example CHILDINFO).
	Extended bool
}

// Lsub is LSUB reference pattern (IMAP4rev1).
type Lsub struct {
	Base
	Reference, Pattern string
}

// Status is STATUS mailbox (items).
type Status struct {
	Base
	Mailbox   string
	Options   imap.StatusOptions
	MailboxID bool // RFC 8474 MAILBOXID
}

// Expunge is EXPUNGE, or UID EXPUNGE uid-set (RFC 4315, RFC 9051).
type Expunge struct {
	Base
	UID  bool
	UIDs imap.UIDSet
}

// Copy is COPY or MOVE (Name tells which), UID variants with UID set; Set
// is an imap.SeqSet, an imap.UIDSet or imap.SearchRes().
type Copy struct {
	Base
	UID     bool
	Set     imap.NumSet
	Mailbox string
}

func (r *Reader) parseSelect(b Base) Command {
	r.sp()
	c := &Select{Base: b, Mailbox: r.mailbox(), ReadOnly: b.Name == "EXAMINE"}
	if !r.consume(' ') {
		return c
	}
	r.list(false, func() {
		switch r.keyword() {
		case "CONDSTORE":
			c.CondStore = true
		case "QRESYNC":
			if c.QResync != nil {
				r.fail("Duplicate QRESYNC")
			}
			r.sp()
			c.QResync = r.qresync()
		default:
			r.fail("Unknown SELECT parameter")
		}
	})
	return c
}

func (r *Reader) qresync() *QResync {
	q := &QResync{}
	r.expect('(')
	q.UIDValidity = r.nzNumber()
	r.sp()
	q.ModSeq = r.modSeq(false)
	if r.consume(' ') {
		if r.peek() != '(' {
			q.KnownUIDs = r.uidSetNoRes()
			for _, rg := range q.KnownUIDs {
				if rg.Stop == 0 {
					r.fail("Invalid known-uids")
				}
			}
			if r.consume(' ') {
				q.SeqMatch = r.seqMatch()
			}
		} else {
			q.SeqMatch = r.seqMatch()
		}
	}
	r.expect(')')
	return q
}

func (r *Reader) seqMatch() *SeqMatch {
	m := &SeqMatch{}
	r.expect('(')
	r.seqRanges(func(a, b uint32) { m.Seqs = append(m.Seqs, imap.SeqRange{Start: a, Stop: b}) })
	r.sp()
	m.UIDs = r.uidSetNoRes()
	r.expect(')')
	// RFC 7162 section 3.2.5.2: "*" is not allowed in either set.
	for _, rg := range m.Seqs {
		if rg.Stop == 0 {
			r.fail("Invalid known-sequence-set")
		}
	}
	for _, rg := range m.UIDs {
		if rg.Stop == 0 {
			r.fail("Invalid known-uid-set")
		}
	}
	return m
}

func (r *Reader) parseCreate(b Base) Command {
	r.sp()
	c := &Create{Base: b, Mailbox: r.mailbox()}
	if !r.consume(' ') {
		return c
	}
	r.list(false, func() {
		if r.keyword() != "USE" {
			r.fail("Unknown CREATE parameter")
		}
		r.sp()
		c.SpecialUse = []imap.MailboxAttr{}
		r.list(true, func() {
			c.SpecialUse = append(c.SpecialUse, imap.MailboxAttr(r.flag(false)))
		})
	})
	return c
}

func (r *Reader) parseMailboxOnly(b Base) Command {
	r.sp()
	a := MailboxArg{Base: b, Mailbox: r.mailbox()}
	switch b.Name {
	case "DELETE":
		return &Delete{a}
	case "SUBSCRIBE":
		return &Subscribe{a}
	case "UNSUBSCRIBE":
		return &Unsubscribe{a}
	default:
		return &GetQuotaRoot{a}
	}
}

func (r *Reader) parseList(b Base) Command {
	c := &List{Base: b}
	r.sp()
	if r.peek() == '(' {
		c.Extended = true
		recursive := false
		r.list(true, func() {
			switch r.keyword() {
			case "SUBSCRIBED":
				c.Options.SelectSubscribed = true
			case "REMOTE":
				c.Options.SelectRemote = true
			case "RECURSIVEMATCH":
				recursive = true
			case "SPECIAL-USE":
				c.Options.SelectSpecialUse = true
			default:
				r.fail("Unknown LIST selection option")
			}
		})
		// RFC 5258 section 3.1: RECURSIVEMATCH needs another selection
		// option; REMOTE alone does not count.
		if recursive {
			if !c.Options.SelectSubscribed && !c.Options.SelectSpecialUse {
				r.fail("RECURSIVEMATCH without a selection option")
			}
			c.Options.SelectRecursiveMatch = true
		}
		r.sp()
	}
	c.Reference = r.mailbox()
	r.sp()
	if r.peek() == '(' {
		c.Extended = true
		r.list(false, func() { c.Patterns = append(c.Patterns, r.listMailbox()) })
	} else {
		c.Patterns = []string{r.listMailbox()}
	}
	if !r.consume(' ') {
		return c
	}
	if r.keyword() != "RETURN" {
		r.fail("Expected RETURN")
	}
	c.Extended = true
	r.sp()
	r.list(true, func() {
		switch r.keyword() {
		case "SUBSCRIBED":
			c.Options.ReturnSubscribed = true
		case "CHILDREN":
			c.Options.ReturnChildren = true
		case "SPECIAL-USE":
			c.Options.ReturnSpecialUse = true
		case "STATUS":
			r.sp()
			var so imap.StatusOptions
			r.statusAtts(&so, nil)
			c.Options.ReturnStatus = &so
		default:
			r.fail("Unknown LIST return option")
		}
	})
	return c
}

func (r *Reader) parseStatus(b Base) Command {
	r.sp()
	c := &Status{Base: b, Mailbox: r.mailbox()}
	r.sp()
	r.statusAtts(&c.Options, &c.MailboxID)
	return c
}

// statusAtts reads "(" status-att *(SP status-att) ")".
func (r *Reader) statusAtts(o *imap.StatusOptions, mailboxID *bool) {
	r.list(false, func() {
		switch a := r.keyword(); a {
		case "MESSAGES":
			o.NumMessages = true
		case "UIDNEXT":
			o.UIDNext = true
		case "UIDVALIDITY":
			o.UIDValidity = true
		case "UNSEEN":
			o.NumUnseen = true
		case "DELETED":
			o.NumDeleted = true
		case "SIZE":
			o.Size = true
		case "RECENT":
			o.NumRecent = true
		case "HIGHESTMODSEQ":
			o.HighestModSeq = true
		case "APPENDLIMIT":
			o.AppendLimit = true
		case "DELETED-STORAGE":
			o.DeletedStorage = true
		case "MAILBOXID":
			if mailboxID == nil {
				r.fail("Unknown status item")
			}
			*mailboxID = true
		default:
			r.fail("Unknown status item %s", strings.ToLower(a))
		}
	})
}

// flag reads flag = "\" atom / atom (keywords), returned as written except
// that system flags are given their canonical case. keywordOnly rejects
// "\" flags; "\*" is accepted only with star (PERMANENTFLAGS-like lists).
func (r *Reader) flag(star bool) imap.Flag {
	if r.consume('\\') {
		if star && r.consume('*') {
			return imap.FlagWildcard
		}
		a := r.atom()
		switch strings.ToLower(a) {
		case "seen":
			return imap.FlagSeen
		case "answered":
			return imap.FlagAnswered
		case "flagged":
			return imap.FlagFlagged
		case "deleted":
			return imap.FlagDeleted
		case "draft":
			return imap.FlagDraft
		case "recent":
			return "\\Recent"
		}
		return imap.Flag("\\" + a)
	}
	return imap.Flag(r.atom())
}

// flagList reads flag-list = "(" [flag *(SP flag)] ")".
func (r *Reader) flagList() []imap.Flag {
	fl := []imap.Flag{}
	r.list(true, func() { fl = append(fl, r.flag(false)) })
	return fl
}
