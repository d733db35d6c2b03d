package msgauth

import (
	"bytes"
	"strings"
)

// StripAuthResults removes the Authentication-Results header fields whose
// authserv-id is authservID (compared case-insensitively): a message must not
// arrive already carrying results that seem to come from us (RFC 8601 5).
// Fields naming other authserv-ids and the body are left untouched. Only the
// first verifyMaxHeaderBytes of the header are looked at. msg is returned as
// is when there is nothing to remove.
func StripAuthResults(msg []byte, authservID string) []byte {
	fields, _, _ := verifyHeader(msg, verifyMaxHeaderBytes)
	var out []byte
	last := 0
	for _, f := range fields {
		if !bytes.EqualFold(f.name, []byte("Authentication-Results")) {
			continue
		}
		id, ok := authresServID(f.value(msg))
		if !ok || !strings.EqualFold(id, authservID) {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(msg))
		}
		out = append(out, msg[last:f.start]...)
		last = f.end
	}
	if out == nil {
		return msg
	}
	return append(out, msg[last:]...)
}

// authresServID returns the authserv-id that starts an Authentication-Results
// value: [CFWS] (token / quoted-string), RFC 8601 2.2.
func authresServID(v []byte) (string, bool) {
	i := authresSkipCFWS(v, 0)
	if i >= len(v) {
		return "", false
	}
	if v[i] == '"' {
		var b strings.Builder
		for i++; i < len(v); i++ {
			switch v[i] {
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			case '"':
				return b.String(), true
			case '\r', '\n':
			default:
				b.WriteByte(v[i])
			}
		}
		return "", false
	}
	j := i
	for j < len(v) && !strings.ContainsRune(" \t\r\n;()\"", rune(v[j])) {
		j++
	}
	if j == i {
		return "", false
	}
	return string(v[i:j]), true
}

// authresSkipCFWS skips white space, line breaks and comments, which nest and
// may hold quoted pairs (RFC 5322 3.2.2).
func authresSkipCFWS(v []byte, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '\\' && depth > 0:
			i++
		case depth > 0:
		default:
			return i
		}
	}
	return i
}
