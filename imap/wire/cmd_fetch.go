package wire

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Fetch is FETCH / UID FETCH (RFC 9051 section 6.4.5) with the CONDSTORE
// and QRESYNC modifiers (RFC 7162). Macros are expanded. For UID FETCH,
// Options.UID is set (the UID is always returned).
type Fetch struct {
	Base
	UID     bool
	Set     imap.NumSet
	Options imap.FetchOptions // incl. ModSeq and ChangedSince

	// Items imap.FetchOptions has no field for. RFC822, RFC822.HEADER and
	// RFC822.TEXT are kept apart from BodySection because their replies
	// carry those names (RFC 9051 section 7.5.2, IMAP4rev1 only).
	RFC822, RFC822Header, RFC822Text bool
	Preview, PreviewLazy             bool // RFC 8970
	EmailID, ThreadID                bool // RFC 8474
	SaveDate                         bool // RFC 8514
	Vanished                         bool // RFC 7162 section 3.2.6, UID FETCH only
	HasChangedSince                  bool // CHANGEDSINCE given (its value may be 0)
}

// Store is STORE / UID STORE with UNCHANGEDSINCE (RFC 7162 section 3.1.3).
type Store struct {
	Base
	UID     bool
	Set     imap.NumSet
	Flags   imap.StoreFlags
	Options imap.StoreOptions
	// HasUnchangedSince is set when UNCHANGEDSINCE was given, since 0 is a
	// valid value for it.
	HasUnchangedSince bool
}

func isFetchAttChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '.' || isDigit(c) || c == '-'
}

func (r *Reader) parseFetch(b Base, uid bool) Command {
	c := &Fetch{Base: b, UID: uid}
	r.sp()
	c.Set = r.numSet(uid)
	r.sp()
	if r.peek() == '(' {
		r.list(false, func() { r.fetchAtt(c) })
	} else {
		switch m := r.keywordFrom(isFetchAttChar); m {
		case "ALL", "FAST", "FULL":
			o := &c.Options
			o.Flags, o.InternalDate, o.RFC822Size = true, true, true
			o.Envelope = m != "FAST"
			if m == "FULL" {
				o.BodyStructure = &imap.FetchItemBodyStructure{}
			}
		default:
			r.pos -= len(m)
			r.fetchAtt(c)
		}
	}
	if uid {
		c.Options.UID = true
	}
	if r.consume(' ') {
		r.list(false, func() {
			switch r.keyword() {
			case "CHANGEDSINCE":
				r.sp()
				c.Options.ChangedSince = r.modSeq(true)
				c.HasChangedSince = true
			case "VANISHED":
				c.Vanished = true
			default:
				r.fail("Unknown FETCH modifier")
			}
		})
		// RFC 7162 section 3.2.6: VANISHED only in UID FETCH, with
		// CHANGEDSINCE.
		if c.Vanished && (!uid || !c.HasChangedSince) {
			r.fail("VANISHED requires UID FETCH and CHANGEDSINCE")
		}
	}
	return c
}

func (r *Reader) fetchAtt(c *Fetch) {
	o := &c.Options
	switch a := r.keywordFrom(isFetchAttChar); a {
	case "ENVELOPE":
		o.Envelope = true
	case "FLAGS":
		o.Flags = true
	case "INTERNALDATE":
		o.InternalDate = true
	case "RFC822.SIZE":
		o.RFC822Size = true
	case "UID":
		o.UID = true
	case "MODSEQ":
		o.ModSeq = true
	case "RFC822":
		c.RFC822 = true
	case "RFC822.HEADER":
		c.RFC822Header = true
	case "RFC822.TEXT":
		c.RFC822Text = true
	case "BODYSTRUCTURE":
		o.BodyStructure = &imap.FetchItemBodyStructure{Extended: true}
	case "EMAILID":
		c.EmailID = true
	case "THREADID":
		c.ThreadID = true
	case "SAVEDATE":
		c.SaveDate = true
	case "PREVIEW":
		c.Preview = true
		if r.consume(' ') {
			r.list(false, func() {
				if r.keyword() != "LAZY" {
					r.fail("Unknown PREVIEW modifier")
				}
				c.PreviewLazy = true
			})
		}
	case "BODY", "BODY.PEEK":
		if r.peek() != '[' {
			if a == "BODY.PEEK" {
				r.fail("BODY.PEEK needs a section")
			}
			if o.BodyStructure == nil {
				o.BodyStructure = &imap.FetchItemBodyStructure{}
			}
			return
		}
		s := r.section()
		s.Peek = a == "BODY.PEEK"
		s.Partial = r.partial()
		if len(o.BodySection) >= r.opts.MaxItems {
			r.fail("Too many sections")
		}
		o.BodySection = append(o.BodySection, s)
	case "BINARY", "BINARY.PEEK":
		part := r.sectionBinary()
		o.BinarySection = append(o.BinarySection, &imap.FetchItemBinarySection{
			Part: part, Peek: a == "BINARY.PEEK", Partial: r.partial(),
		})
	case "BINARY.SIZE":
		o.BinarySectionSize = append(o.BinarySectionSize, &imap.FetchItemBinarySectionSize{Part: r.sectionBinary()})
	default:
		r.fail("Unknown FETCH item")
	}
}

// sectionPart reads nz-number *("." nz-number); it stops before a "."
// followed by a letter (the section-text).
func (r *Reader) sectionPart() []int {
	var part []int
	for isDigit(r.peek()) {
		if len(part) >= r.opts.MaxDepth {
			r.fail("Section part too deep")
		}
		part = append(part, int(r.nzNumber()))
		if r.pos+1 < len(r.line) && r.line[r.pos] == '.' && isDigit(r.line[r.pos+1]) {
			r.pos++
			continue
		}
		break
	}
	return part
}

// section reads "[" [section-spec] "]".
func (r *Reader) section() *imap.FetchItemBodySection {
	r.expect('[')
	s := &imap.FetchItemBodySection{}
	s.Part = r.sectionPart()
	if len(s.Part) > 0 && !r.consume('.') {
		r.expect(']')
		return s
	}
	if r.consume(']') {
		if len(s.Part) > 0 {
			r.fail("Invalid section")
		}
		return s
	}
	switch spec := r.keywordFrom(isFetchAttChar); spec {
	case "HEADER":
		s.Specifier = imap.PartSpecifierHeader
	case "TEXT":
		s.Specifier = imap.PartSpecifierText
	case "MIME":
		if len(s.Part) == 0 {
			r.fail("MIME needs a part number")
		}
		s.Specifier = imap.PartSpecifierMIME
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		s.Specifier = imap.PartSpecifierHeader
		r.sp()
		var names []string
		r.list(false, func() { names = append(names, r.headerFieldName()) })
		if spec == "HEADER.FIELDS" {
			s.HeaderFields = names
		} else {
			s.HeaderFieldsNot = names
		}
	default:
		r.fail("Invalid section")
	}
	r.expect(']')
	return s
}

// headerFieldName reads header-fld-name = astring, checked against RFC
// 5322's field-name (printable ASCII except ":").
func (r *Reader) headerFieldName() string {
	s := r.astring()
	if s == "" {
		r.fail("Empty header field name")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' {
			r.fail("Invalid header field name")
		}
	}
	return s
}

// sectionBinary reads "[" [section-part] "]" (RFC 3516).
func (r *Reader) sectionBinary() []int {
	r.expect('[')
	p := r.sectionPart()
	r.expect(']')
	if p == nil {
		p = []int{}
	}
	return p
}

// partial reads ["<" number64 "." nz-number64 ">"].
func (r *Reader) partial() *imap.SectionPartial {
	if !r.consume('<') {
		return nil
	}
	p := &imap.SectionPartial{Offset: r.number64()}
	r.expect('.')
	p.Size = r.number64()
	if p.Size == 0 {
		r.fail("Partial size must not be zero")
	}
	r.expect('>')
	return p
}

func (r *Reader) parseStore(b Base, uid bool) Command {
	c := &Store{Base: b, UID: uid}
	r.sp()
	c.Set = r.numSet(uid)
	r.sp()
	if r.peek() == '(' {
		r.list(false, func() {
			if r.keyword() != "UNCHANGEDSINCE" {
				r.fail("Unknown STORE modifier")
			}
			r.sp()
			c.Options.UnchangedSince = r.modSeq(true)
			c.HasUnchangedSince = true
		})
		r.sp()
	}
	switch {
	case r.consume('+'):
		c.Flags.Op = imap.StoreFlagsAdd
	case r.consume('-'):
		c.Flags.Op = imap.StoreFlagsDel
	default:
		c.Flags.Op = imap.StoreFlagsSet
	}
	switch strings.ToUpper(r.atom()) {
	case "FLAGS":
	case "FLAGS.SILENT":
		c.Flags.Silent = true
	default:
		r.fail("Expected FLAGS")
	}
	r.sp()
	if r.peek() == '(' {
		c.Flags.Flags = r.flagList()
		return c
	}
	c.Flags.Flags = []imap.Flag{}
	for n := 0; ; n++ {
		if n >= r.opts.MaxItems {
			r.fail("Too many flags")
		}
		c.Flags.Flags = append(c.Flags.Flags, r.flag(false))
		if !r.consume(' ') {
			return c
		}
	}
}
