package imap

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/mailbox"
)

// The ENVELOPE and BODYSTRUCTURE of a message come from what delivery
// stored (mailbox.Envelope, mailbox.Part), never from parsing it again.

func envelope(e *mailbox.Envelope) *imap.Envelope {
	if e == nil {
		return &imap.Envelope{}
	}
	return &imap.Envelope{
		Date:      e.Date,
		Subject:   e.Subject,
		From:      addresses(e.From),
		Sender:    addresses(e.Sender),
		ReplyTo:   addresses(e.ReplyTo),
		To:        addresses(e.To),
		Cc:        addresses(e.Cc),
		Bcc:       addresses(e.Bcc),
		InReplyTo: bracketed(e.InReplyTo),
		MessageID: strings.Join(bracketed([]string{e.MessageID}), ""),
	}
}

// bracketed puts message ids back in their angle brackets.
func bracketed(ids []string) []string {
	var out []string
	for _, id := range ids {
		if id != "" {
			out = append(out, "<"+id+">")
		}
	}
	return out
}

func addresses(l []mailbox.EnvAddress) []imap.Address {
	if len(l) == 0 {
		return nil
	}
	out := make([]imap.Address, len(l))
	// a.Route (the addr-adl) is left out: go-imap's imap.Address has no
	// field for it. Only an enclosed message's envelope goes through here;
	// writeEnvelope writes a message's own with its routes.
	for i, a := range l {
		out[i] = imap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}

// bodyStructure converts a stored MIME tree, with the extension data that
// BODYSTRUCTURE shows (BODY leaves it out when written).
func bodyStructure(p *mailbox.Part) imap.BodyStructure {
	if p.IsMultipart() && len(p.Children) > 0 {
		mp := &imap.BodyStructureMultiPart{
			Subtype: p.Subtype,
			Extended: &imap.BodyStructureMultiPartExt{
				Params:      p.Params,
				Disposition: disposition(p),
				Language:    p.Language,
				Location:    p.Location,
			},
		}
		for _, c := range p.Children {
			mp.Children = append(mp.Children, bodyStructure(c))
		}
		return mp
	}
	sp := &imap.BodyStructureSinglePart{
		Type:        p.Type,
		Subtype:     p.Subtype,
		Params:      p.Params,
		ID:          p.ID,
		Description: p.Description,
		Encoding:    p.Encoding,
		Size:        uint32(min(p.Size, 1<<32-1)),
		Extended: &imap.BodyStructureSinglePartExt{
			Disposition: disposition(p),
			Language:    p.Language,
			Location:    p.Location,
		},
	}
	if p.IsMultipart() {
		// A multipart without children cannot be written; the analysis
		// never makes one, but the wire must not break if it did.
		sp.Type, sp.Subtype = "text", "plain"
	}
	switch {
	case p.Message != nil:
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      envelope(p.Envelope),
			BodyStructure: bodyStructure(p.Message),
			NumLines:      p.Lines,
		}
	case sp.Type == "text":
		sp.Text = &imap.BodyStructureText{NumLines: p.Lines}
	}
	return sp
}

func disposition(p *mailbox.Part) *imap.BodyStructureDisposition {
	if p.Disposition == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: p.Disposition, Params: p.DispositionParams}
}

func flagsOf(names []string) []imap.Flag {
	out := make([]imap.Flag, len(names))
	for i, n := range names {
		out[i] = imap.Flag(n)
	}
	return out
}

func flagNames(flags []imap.Flag) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = string(f)
	}
	return out
}
