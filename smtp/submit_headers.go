package smtp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

// A submitted message's header is checked and cleaned here (RFC 6409 8,
// issue 8):
//
//   - The From field names the message's authors and Sender the one who
//     sent it (RFC 5322 3.6.2). Each address in either must be one the
//     logged-in account may use as its envelope sender (CanSendAs), or the
//     message is refused with 550 5.7.1, so that a user cannot put another
//     person's address where mail apps show the sender. A header that
//     cannot be read that far gets 554 5.6.0: RFC 3463 X.6.0 (the content
//     of the message) rather than X.7.1, because the client has to repair
//     the message, not use another account. That covers a From or Sender
//     field that does not parse, several From or Sender fields (RFC 5322
//     3.6 allows one of each; RFC 7489 6.6.1 lets a receiver refuse the
//     message), a Sender with more than one address, and a From with
//     several addresses but no Sender (RFC 5322 3.6.2 requires it).
//   - A message without From gets one naming the envelope sender, which
//     Mail has already checked: RFC 5322 requires the field, and DKIM
//     signing (RFC 6376 5.4) needs it.
//   - Bcc fields are removed from the one copy stored for every recipient,
//     local and remote (RFC 5322 3.6.3): the To and Cc recipients must not
//     learn about the blind ones, and a blind recipient need not see the
//     others. Pillarbox keeps no per-recipient copies, so the blind
//     recipients get no Bcc field either, which RFC 5322 allows. Only the
//     copy filed in the sender's own Sent folder keeps them (sentCopy).
//
// The header ends at the first empty line, or with the message. Every
// line in it that starts with a name and a colon is a field, however the
// lines around it look, so that a From that a receiver might find is
// never missed; lines starting with white space continue the field above.

// Limits on the From and Sender fields handed to go-message, whose header
// reader has no limits of its own.
const (
	maxAuthorField = 16 << 10 // octets of one From or Sender field
	maxAuthors     = 16       // addresses in From
)

// headerField is one field of a message's header: its name as written,
// without white space before the colon, and its octets in the message,
// continuation lines and CRLF included.
type headerField struct {
	name       string
	start, end int
}

// is reports whether the field's name is name, which is in lower case.
func (f headerField) is(name string) bool { return strings.EqualFold(f.name, name) }

// scanHeader splits the header of msg into fields and returns the ones
// keep accepts (all if keep is nil; keeping few bounds the memory a huge
// header costs), with the offset at which the header ends (the empty
// line, or len(msg)). A line without a colon gets an empty name; it stays
// in the message.
func scanHeader(msg []byte, keep func(name string) bool) (fields []headerField, end int) {
	pos := 0
	kept := false // the field the current line may continue was kept
	for pos < len(msg) {
		line := msg[pos:]
		next := len(msg)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i+1], pos+i+1
		}
		content := bytes.TrimRight(line, "\r\n")
		switch {
		case len(content) == 0:
			return fields, pos
		case (content[0] == ' ' || content[0] == '\t') && pos > 0:
			if kept {
				fields[len(fields)-1].end = next
			}
		default:
			name := ""
			if n, _, ok := bytes.Cut(content, []byte(":")); ok {
				// RFC 5322 4.5.3: obsolete syntax allows white space
				// before the colon; a first line that starts with
				// white space is taken as a field too.
				name = string(bytes.Trim(n, " \t"))
			}
			kept = keep == nil || keep(name)
			if kept {
				fields = append(fields, headerField{name: name, start: pos, end: next})
			}
		}
		pos = next
	}
	return fields, len(msg)
}

// submitFields are the fields readSubmitHeader looks at.
func submitFields(name string) bool {
	switch strings.ToLower(name) {
	case "from", "sender", "bcc", "message-id", "date":
		return true
	}
	return false
}

// submitHeader is what the submission server learns from a message's
// header.
type submitHeader struct {
	fields  []headerField // only submitFields
	end     int
	from    []mailbox.Address // the From field's addresses; nil if none
	sender  *mailbox.Address  // the Sender field's address, if any
	hasID   bool
	hasDate bool
}

// errHeader refuses a message whose From or Sender field cannot be read.
func errHeader(format string, args ...any) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: fmt.Sprintf(format, args...)}
}

// readSubmitHeader scans msg's header and parses its From and Sender
// fields, or returns the 554 reply for a header that cannot be read.
func readSubmitHeader(msg []byte) (*submitHeader, error) {
	h := &submitHeader{}
	h.fields, h.end = scanHeader(msg, submitFields)
	var from, sender []headerField
	for _, f := range h.fields {
		switch {
		case f.is("from"):
			from = append(from, f)
		case f.is("sender"):
			sender = append(sender, f)
		case f.is("message-id"):
			h.hasID = true
		case f.is("date"):
			h.hasDate = true
		}
	}
	if len(from) > 1 {
		return nil, errHeader("Message has %d From header fields, RFC 5322 3.6 allows one", len(from))
	}
	if len(sender) > 1 {
		return nil, errHeader("Message has %d Sender header fields, RFC 5322 3.6 allows one", len(sender))
	}
	if len(from) == 1 {
		addrs, err := parseAuthorField(msg, from[0], "From")
		if err != nil {
			return nil, err
		}
		if len(addrs) > maxAuthors {
			return nil, errHeader("From header field has more than %d addresses", maxAuthors)
		}
		h.from = addrs
	}
	if len(sender) == 1 {
		addrs, err := parseAuthorField(msg, sender[0], "Sender")
		if err != nil {
			return nil, err
		}
		if len(addrs) != 1 {
			return nil, errHeader("Sender header field must have one address (RFC 5322 3.6.2)")
		}
		h.sender = &addrs[0]
	}
	if len(h.from) > 1 && h.sender == nil {
		return nil, errHeader("From header field with several addresses needs a Sender field (RFC 5322 3.6.2)")
	}
	return h, nil
}

// parseAuthorField parses one From or Sender field with go-message and
// normalises its addresses as MAIL FROM's are (mailbox.ParseAddress).
func parseAuthorField(msg []byte, f headerField, key string) ([]mailbox.Address, error) {
	raw := msg[f.start:f.end]
	if len(raw) > maxAuthorField {
		return nil, errHeader("%s header field is longer than %d bytes", key, maxAuthorField)
	}
	block := make([]byte, 0, len(raw)+4)
	block = append(block, raw...)
	if !bytes.HasSuffix(block, []byte("\n")) {
		block = append(block, "\r\n"...)
	}
	block = append(block, "\r\n"...)
	th, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(block)))
	if err != nil {
		return nil, errHeader("%s header field does not parse", key)
	}
	mh := mail.Header{Header: message.Header{Header: th}}
	list, err := mh.AddressList(key)
	if err != nil {
		return nil, errHeader("%s header field does not parse as an address list", key)
	}
	if len(list) == 0 {
		return nil, errHeader("%s header field has no address", key)
	}
	addrs := make([]mailbox.Address, 0, len(list))
	for _, a := range list {
		ma, err := mailbox.ParseAddress(a.Address)
		if err != nil {
			return nil, errHeader("%s header field has an address that is not usable: %s", key, clip(a.Address, 100))
		}
		addrs = append(addrs, ma)
	}
	return addrs, nil
}

// errNotAuthor refuses a message whose From or Sender names an address
// the account may not use.
func errNotAuthor(key string, a mailbox.Address) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
		Message: fmt.Sprintf("%s header address %s is not an address this account may use", key, clip(a.String(), 100))}
}

// checkAuthors holds every From address and the Sender to the rule of
// MAIL FROM: the account must be allowed to send as each.
func (s *submissionSession) checkAuthors(ctx context.Context, id string, h *submitHeader) error {
	check := func(key string, a mailbox.Address) error {
		ok, err := s.sub.CanSendAs(ctx, *s.acct, a)
		if err != nil {
			s.srv.log.Error("smtp: header sender check", "id", id, key, a.String(), "err", err)
			return errTempLocal
		}
		if !ok {
			s.srv.log.Warn("smtp: submission refused, header address not owned", "id", id, "user", s.acct.Address,
				"field", key, "address", a.String(), "remote", remoteIP(s.conn))
			return errNotAuthor(key, a)
		}
		return nil
	}
	for _, a := range h.from {
		if err := check("From", a); err != nil {
			return err
		}
	}
	if h.sender != nil {
		return check("Sender", *h.sender)
	}
	return nil
}

// sentCopy returns the sender's own copy of a message with Bcc fields:
// the prefix submission put in front of it (trace fields, and any
// Message-ID, Date or From it added, so that both copies carry the same
// ones) and msg whole. Nil if msg has no Bcc field, when the sender's
// copy is the one the recipients get.
//
// The Sent copy keeps Bcc, as mail apps' own Sent copies do (Thunderbird,
// Apple Mail, mutt): RFC 5322 3.6.3 hides the blind recipients from the
// other recipients, not from the author, who needs the Sent folder to
// show whom the message went to. It is the sender's own mailbox, and
// the copy is never relayed.
func sentCopy(prefix, msg []byte, h *submitHeader) []byte {
	if !slices.ContainsFunc(h.fields, func(f headerField) bool { return f.is("bcc") }) {
		return nil
	}
	out := make([]byte, 0, len(prefix)+len(msg))
	return append(append(out, prefix...), msg...)
}

// writeWithoutBcc appends msg to buf without its Bcc fields.
func writeWithoutBcc(buf *bytes.Buffer, msg []byte, h *submitHeader) {
	pos := 0
	for _, f := range h.fields {
		if f.is("bcc") {
			buf.Write(msg[pos:f.start])
			pos = f.end
		}
	}
	buf.Write(msg[pos:])
}
