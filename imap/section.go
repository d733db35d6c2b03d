package imap

import (
	"context"

	"github.com/emersion/go-imap/v2"

	"pillarbox/mailbox"
)

// source reads the octets of one message's sections from the store, by
// the byte offsets delivery recorded in its structure: nothing is parsed
// again. It reads the whole message once when more than one range is
// needed, else just the range.
type source struct {
	svc   *mailbox.Service
	ctx   context.Context
	msg   *mailbox.Message
	whole []byte
	reads int
}

// bytes returns octets [start, end) of the message.
func (s *source) bytes(start, end int64) ([]byte, error) {
	start, end = max(start, 0), min(end, s.msg.Size)
	if end <= start {
		return nil, nil
	}
	if s.whole == nil && s.msg.Body != nil {
		s.whole = s.msg.Body
	}
	if s.whole == nil && (s.reads > 0 || start == 0 && end == s.msg.Size) {
		b, err := s.svc.Message(s.ctx, s.msg.BlobID, s.msg.Size)
		if err != nil {
			return nil, err
		}
		s.whole = b
	}
	if s.whole != nil {
		hi := min(end, int64(len(s.whole)))
		return s.whole[start:hi:hi], nil
	}
	s.reads++
	return s.svc.MessageBytes(s.ctx, s.msg.BlobID, start, end)
}

// bodySection returns BODY[section]<partial> (RFC 9051 6.4.5). A part
// that does not exist is empty.
func (s *source) bodySection(bs *imap.FetchItemBodySection) ([]byte, error) {
	root := s.msg.Structure
	var start, end int64 // of the section, before a partial range
	var header bool      // the section is a header block (field lists apply)
	switch {
	case len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierNone:
		start, end = 0, s.msg.Size
	case len(bs.Part) == 0:
		switch bs.Specifier {
		case imap.PartSpecifierHeader, imap.PartSpecifierMIME:
			start, end, header = root.HeaderStart, root.BodyStart, true
		case imap.PartSpecifierText:
			start, end = root.BodyStart, root.End
		}
	default:
		p := root.Find(bs.Part)
		if p == nil {
			return nil, nil
		}
		switch bs.Specifier {
		case imap.PartSpecifierNone:
			start, end = p.BodyStart, p.End
		case imap.PartSpecifierMIME:
			start, end, header = p.HeaderStart, p.BodyStart, true
		case imap.PartSpecifierHeader, imap.PartSpecifierText:
			// Only an enclosed message has a header and a text of its own.
			if p.Message == nil {
				return nil, nil
			}
			if bs.Specifier == imap.PartSpecifierHeader {
				start, end, header = p.Message.HeaderStart, p.Message.BodyStart, true
			} else {
				start, end = p.Message.BodyStart, p.Message.End
			}
		}
	}
	if header && (len(bs.HeaderFields) > 0 || len(bs.HeaderFieldsNot) > 0) {
		block, err := s.bytes(start, end)
		if err != nil {
			return nil, err
		}
		if len(bs.HeaderFields) > 0 {
			return partial(mailbox.HeaderFields(block, bs.HeaderFields, false), bs.Partial), nil
		}
		return partial(mailbox.HeaderFields(block, bs.HeaderFieldsNot, true), bs.Partial), nil
	}
	if p := bs.Partial; p != nil {
		// Read only the requested range.
		if p.Offset >= end-start || p.Size <= 0 {
			return []byte{}, nil
		}
		start += p.Offset
		end = min(end, start+p.Size)
	}
	b, err := s.bytes(start, end)
	if b == nil && err == nil {
		b = []byte{}
	}
	return b, err
}

// binarySection returns BINARY[part]: the part's body with its
// Content-Transfer-Encoding undone (RFC 3516); the whole message for an
// empty part, and multiparts and enclosed messages as they are.
func (s *source) binarySection(part []int) ([]byte, error) {
	if len(part) == 0 {
		return s.bytes(0, s.msg.Size)
	}
	p := s.msg.Structure.Find(part)
	if p == nil {
		return []byte{}, nil
	}
	b, err := s.bytes(p.BodyStart, p.End)
	if err != nil || p.IsMultipart() || p.Message != nil {
		return b, err
	}
	return mailbox.DecodeBody(p.Encoding, b)
}

// partial cuts <offset.size> out of b.
func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) || p.Size <= 0 {
		return []byte{}
	}
	return b[p.Offset:min(int64(len(b)), p.Offset+p.Size)]
}
