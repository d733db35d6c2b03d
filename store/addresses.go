package store

import (
	"encoding/json"
	"strings"
)

// SEARCH FROM, TO, CC and BCC match the parsed addresses of the field
// (RFC 9051 6.4.4 asks for "the specified string in the envelope
// structure's FROM field", and so on), not the raw header: the display
// name as decoded, the local part, the domain and the addr-spec, without
// comments or source route. Delivery stores each blob's four lists as one
// folded text each in blob_addresses (migration 0017), so that the search
// is a substring test on indexed rows, without reading any message.

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

// addressFields are the fields whose addresses SEARCH matches, in the
// order of the columns of blob_addresses, with the keys of the envelope
// JSON that migration 0017 read them from.
var addressFields = [...]struct{ name, column, jsonKey string }{
	{"from", "from_text", "f"},
	{"to", "to_text", "t"},
	{"cc", "cc_text", "c"},
	{"bcc", "bcc_text", "b"},
}

// addressColumn returns the blob_addresses column that answers a search of
// the header field, or "" if the field is not one of the four.
func addressColumn(field string) string {
	for _, f := range addressFields {
		if strings.EqualFold(field, f.name) {
			return f.column
		}
	}
	return ""
}

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

// envelopeAddressText is migration 0017's function: the AddressText of the
// list under key in a stored envelope's JSON (mailbox.Envelope as stored
// up to version 16), "" if it has none or cannot be read.
func envelopeAddressText(envelope, key string) string {
	var env map[string]json.RawMessage
	if json.Unmarshal([]byte(envelope), &env) != nil {
		return ""
	}
	var list []struct {
		Name    string `json:"n"`
		Mailbox string `json:"m"`
		Host    string `json:"h"`
	}
	if raw, ok := env[key]; !ok || json.Unmarshal(raw, &list) != nil {
		return ""
	}
	out := make([]EnvelopeAddress, len(list))
	for i, a := range list {
		out[i] = EnvelopeAddress{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return AddressText(out)
}

// insertAddresses stores the address texts of a new blob (Blob.Prepare
// has computed them).
func (tx *Tx) insertAddresses(id int64, b *Blob) error {
	_, err := tx.exec(`INSERT INTO blob_addresses(blob_id, from_text, to_text, cc_text, bcc_text) VALUES (?, ?, ?, ?, ?)`,
		id, b.addresses[0], b.addresses[1], b.addresses[2], b.addresses[3])
	return err
}
