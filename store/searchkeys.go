package store

import "strings"

// addressColumns are the columns of blob_addresses, named alike in both
// stores' schemas, that answer SEARCH FROM, TO, CC and BCC.
var addressColumns = [...]struct{ field, column string }{
	{"from", "from_text"}, {"to", "to_text"}, {"cc", "cc_text"}, {"bcc", "bcc_text"},
}

// AddressColumn returns the blob_addresses column that answers h, a
// search of From, To, Cc or Bcc for a string, or "" if h reads the
// header text (another field, or any value: the field is present).
func AddressColumn(h HeaderCriterion) string {
	if h.Value == "" {
		return ""
	}
	for _, a := range addressColumns {
		if strings.EqualFold(h.Field, a.field) {
			return a.column
		}
	}
	return ""
}

// HeaderTextKey is the text key of a HEADER criterion that reads the
// header text.
func HeaderTextKey(h HeaderCriterion) TextKey {
	return TextKey{Kind: KeyHeader, Field: h.Field, Needle: Fold(h.Value)}
}

// EachTextKey calls fn with each key of c, its NOT and OR criteria
// included, that reads a message's text: BODY, TEXT, and HEADER keys
// that no address column answers. A key may come more than once.
func EachTextKey(c *SearchCriteria, fn func(TextKey)) {
	for _, h := range c.Header {
		if AddressColumn(h) == "" {
			fn(HeaderTextKey(h))
		}
	}
	for _, s := range c.Body {
		if s != "" {
			fn(TextKey{Kind: KeyBody, Needle: Fold(s)})
		}
	}
	for _, s := range c.Text {
		if s != "" {
			fn(TextKey{Kind: KeyText, Needle: Fold(s)})
		}
	}
	for i := range c.Not {
		EachTextKey(&c.Not[i], fn)
	}
	for i := range c.Or {
		EachTextKey(&c.Or[i][0], fn)
		EachTextKey(&c.Or[i][1], fn)
	}
}
