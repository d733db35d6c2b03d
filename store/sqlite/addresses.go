package sqlite

import (
	"encoding/json"
	"pillarbox/store"
)

// SEARCH FROM, TO, CC and BCC match the parsed addresses of the field
// (RFC 9051 6.4.4 asks for "the specified string in the envelope
// structure's FROM field", and so on), not the raw header: the display
// name as decoded, the local part, the domain and the addr-spec, without
// comments or source route. Delivery stores each blob's four lists as one
// folded text each in blob_addresses (migration 0017), so that the search
// is a substring test on indexed rows, without reading any message
// (store.AddressColumn names the column).

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
	out := make([]store.EnvelopeAddress, len(list))
	for i, a := range list {
		out[i] = store.EnvelopeAddress{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return store.AddressText(out)
}

// insertAddresses stores the address texts of a new blob (Blob.Prepare
// has computed them).
func (tx *Tx) insertAddresses(id int64, b *store.Blob) error {
	a := b.AddressTexts()
	_, err := tx.exec(`INSERT INTO blob_addresses(blob_id, from_text, to_text, cc_text, bcc_text) VALUES (?, ?, ?, ?, ?)`,
		id, a[0], a[1], a[2], a[3])
	return err
}
