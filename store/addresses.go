package store

import (
	"strings"
)

// EnvelopeAddress is one entry of an address list as the IMAP ENVELOPE
// has it (RFC 3501 7.4.2): a display name, decoded, and the local part and
// domain. An entry with an empty Host marks a group: its start, with the
// group's name in Mailbox, or its end, with Mailbox empty too. Host
// MissingHost is an address without a domain.
type EnvelopeAddress struct {
	Name, Mailbox, Host string
}

// MissingHost is the Host of an address without a domain in an ENVELOPE
// (as UW IMAP and Dovecot give it); its text leaves the domain out.
const MissingHost = ".MISSING-HOST-NAME."

// AddressText returns the text that SEARCH matches for an address list,
// folded (see Fold): each address as "Name <local@domain>", or
// "local@domain" without a name, separated by ", ", and a group as
// "Name: members;".
func AddressText(list []EnvelopeAddress) string {
	var b strings.Builder
	sep := ""
	for _, a := range list {
		switch {
		case a.Host == "" && a.Mailbox != "": // a group's start
			b.WriteString(sep + a.Mailbox + ":")
			sep = " "
			continue
		case a.Host == "": // a group's end
			b.WriteString(";")
			sep = ", "
			continue
		}
		b.WriteString(sep)
		if a.Name != "" {
			b.WriteString(a.Name + " <")
		}
		b.WriteString(a.Mailbox)
		if a.Host != MissingHost {
			b.WriteString("@" + a.Host)
		}
		if a.Name != "" {
			b.WriteString(">")
		}
		sep = ", "
	}
	return Fold(b.String())
}
