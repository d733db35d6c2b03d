package wire

import (
	"maps"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Helpers for the items of a FETCH response (RFC 9051 section 7.5.2).

func (w *Writer) part(part []int) {
	for i, p := range part {
		if i > 0 {
			w.byte('.')
		}
		w.Number(uint32(p))
	}
}

// BodySectionName writes the name of a BODY[section]<origin> reply item,
// without the trailing space: BODY[1.HEADER.FIELDS (From To)]<0>. As RFC
// 9051 section 7.5.2 says, a partial reply names only its origin, and
// BODY.PEEK is answered as BODY.
func (w *Writer) BodySectionName(s *imap.FetchItemBodySection) {
	w.str("BODY[")
	w.part(s.Part)
	if s.Specifier != imap.PartSpecifierNone {
		if len(s.Part) > 0 {
			w.byte('.')
		}
		w.str(string(s.Specifier))
		names := s.HeaderFields
		if s.HeaderFieldsNot != nil {
			w.str(".FIELDS.NOT (")
			names = s.HeaderFieldsNot
		} else if s.HeaderFields != nil {
			w.str(".FIELDS (")
		}
		if names != nil {
			for i, n := range names {
				if i > 0 {
					w.byte(' ')
				}
				w.AString(n)
			}
			w.byte(')')
		}
	}
	w.byte(']')
	w.origin(s.Partial)
}

func (w *Writer) origin(p *imap.SectionPartial) {
	if p != nil {
		w.byte('<')
		w.Number64(uint64(p.Offset))
		w.byte('>')
	}
}

// BinarySectionName writes BINARY[part]<origin> (RFC 3516 section 4.2; the
// origin is the requested offset).
func (w *Writer) BinarySectionName(part []int, partial *imap.SectionPartial) {
	w.str("BINARY[")
	w.part(part)
	w.byte(']')
	w.origin(partial)
}

// BinarySizeName writes BINARY.SIZE[part].
func (w *Writer) BinarySizeName(part []int) {
	w.str("BINARY.SIZE[")
	w.part(part)
	w.byte(']')
}

// nstr writes s, or NIL when it is empty (the envelope's convention).
func (w *Writer) nstr(s string) {
	if s == "" {
		w.NIL()
		return
	}
	w.String(s)
}

// Address writes one address: (name adl mailbox host), with NIL for empty
// fields. adl is the obsolete source route, which RFC 9051 still carries.
func (w *Writer) Address(name, adl, mailbox, host string) {
	w.byte('(')
	w.nstr(name)
	w.byte(' ')
	w.nstr(adl)
	w.byte(' ')
	w.nstr(mailbox)
	w.byte(' ')
	w.nstr(host)
	w.byte(')')
}

// AddressList writes "(" 1*address ")" or NIL for an empty list. Group
// markers follow imap.Address: a start has a Mailbox (the group name) and
// no Host, an end has neither.
func (w *Writer) AddressList(list []imap.Address) {
	if len(list) == 0 {
		w.NIL()
		return
	}
	w.byte('(')
	for _, a := range list {
		w.Address(a.Name, "", a.Mailbox, a.Host)
	}
	w.byte(')')
}

// Envelope writes an envelope (RFC 9051 section 7.5.2, ENVELOPE). The date
// is written in RFC 5322 form; a zero date is NIL.
func (w *Writer) Envelope(e *imap.Envelope) {
	w.byte('(')
	if e.Date.IsZero() {
		w.NIL()
	} else {
		w.bytes(e.Date.AppendFormat(w.scratch[:0], `"Mon, 02 Jan 2006 15:04:05 -0700"`))
	}
	w.byte(' ')
	w.nstr(e.Subject)
	for _, l := range [][]imap.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		w.byte(' ')
		w.AddressList(l)
	}
	w.byte(' ')
	switch len(e.InReplyTo) {
	case 0:
		w.NIL()
	case 1:
		w.String(e.InReplyTo[0])
	default:
		w.String(strings.Join(e.InReplyTo, " "))
	}
	w.byte(' ')
	w.nstr(e.MessageID)
	w.byte(')')
}

// params writes body-fld-param: ("name" "value" ...) in name order, or NIL.
func (w *Writer) params(p map[string]string) {
	if len(p) == 0 {
		w.NIL()
		return
	}
	w.byte('(')
	for i, k := range slices.Sorted(maps.Keys(p)) {
		if i > 0 {
			w.byte(' ')
		}
		w.String(k)
		w.byte(' ')
		w.String(p[k])
	}
	w.byte(')')
}

func (w *Writer) disposition(d *imap.BodyStructureDisposition) {
	if d == nil {
		w.NIL()
		return
	}
	w.byte('(')
	w.String(d.Value)
	w.byte(' ')
	w.params(d.Params)
	w.byte(')')
}

func (w *Writer) language(l []string) {
	switch len(l) {
	case 0:
		w.NIL()
	case 1:
		w.String(l[0])
	default:
		w.byte('(')
		for i, s := range l {
			if i > 0 {
				w.byte(' ')
			}
			w.String(s)
		}
		w.byte(')')
	}
}

// BodyStructure writes a body structure (RFC 9051 section 7.5.2): the
// BODY form when extended is false, BODYSTRUCTURE's when true (extension
// data written only where the structure has it).
func (w *Writer) BodyStructure(bs imap.BodyStructure, extended bool) {
	switch bs := bs.(type) {
	case *imap.BodyStructureSinglePart:
		w.singlePart(bs, extended)
	case *imap.BodyStructureMultiPart:
		w.byte('(')
		for _, c := range bs.Children {
			w.BodyStructure(c, extended)
		}
		w.byte(' ')
		w.String(bs.Subtype)
		if extended && bs.Extended != nil {
			x := bs.Extended
			w.byte(' ')
			w.params(x.Params)
			w.byte(' ')
			w.disposition(x.Disposition)
			w.byte(' ')
			w.language(x.Language)
			w.byte(' ')
			w.nstr(x.Location)
		}
		w.byte(')')
	default:
		w.NIL()
	}
}

func (w *Writer) singlePart(bs *imap.BodyStructureSinglePart, extended bool) {
	w.byte('(')
	w.String(bs.Type)
	w.byte(' ')
	w.String(bs.Subtype)
	w.byte(' ')
	w.params(bs.Params)
	w.byte(' ')
	w.nstr(bs.ID)
	w.byte(' ')
	w.nstr(bs.Description)
	w.byte(' ')
	enc := bs.Encoding
	if enc == "" {
		enc = "7BIT"
	}
	w.String(enc)
	w.byte(' ')
	w.Number(bs.Size)
	if m := bs.MessageRFC822; m != nil {
		w.byte(' ')
		env := m.Envelope
		if env == nil {
			env = &imap.Envelope{}
		}
		w.Envelope(env)
		w.byte(' ')
		w.BodyStructure(m.BodyStructure, extended)
		w.byte(' ')
		w.Number64(uint64(m.NumLines))
	} else if t := bs.Text; t != nil {
		w.byte(' ')
		w.Number64(uint64(t.NumLines))
	}
	if extended && bs.Extended != nil {
		x := bs.Extended
		w.str(" NIL ") // body-fld-md5: Pillarbox does not compute Content-MD5
		w.disposition(x.Disposition)
		w.byte(' ')
		w.language(x.Language)
		w.byte(' ')
		w.nstr(x.Location)
	}
	w.byte(')')
}
