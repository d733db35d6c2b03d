package msgauth

import "bytes"

// verifyMaxHeaderBytes bounds the header block parsed by this package: the
// fields that start beyond it are neither read nor rewritten. RFC 5322 sets no
// limit, but a header block past 1 MiB is abuse, and the MX's message size
// limit is applied before this.
const verifyMaxHeaderBytes = 1 << 20

// verifyField is one header field, msg[start:end], including its folded
// continuation lines and final line ending.
type verifyField struct {
	start, end int
	name       []byte // before the colon, without trailing white space; nil if the line has no colon
}

// value is the field body, after the colon, still folded.
func (f verifyField) value(msg []byte) []byte {
	raw := msg[f.start:f.end]
	i := bytes.IndexByte(raw, ':')
	if i < 0 {
		return nil
	}
	return raw[i+1:]
}

// verifyHeader splits the header block of msg into fields (RFC 5322 2.2).
// It stops at the empty line that ends the header, at the end of the message
// (a message may have no body, and then no separator), or at the first field
// starting at or past limit. end is where it stopped; hasBody says whether a
// separator line was found there.
func verifyHeader(msg []byte, limit int) (fields []verifyField, end int, hasBody bool) {
	i := 0
	for i < len(msg) {
		if i >= limit {
			return fields, i, false
		}
		if msg[i] == '\n' || (msg[i] == '\r' && i+1 < len(msg) && msg[i+1] == '\n') {
			return fields, i, true
		}
		f := verifyField{start: i}
		line := verifyLineEnd(msg, i)
		if c := bytes.IndexByte(msg[i:line], ':'); c >= 0 {
			f.name = bytes.TrimRight(msg[i:i+c], " \t")
		}
		i = line
		for i < len(msg) && (msg[i] == ' ' || msg[i] == '\t') {
			i = verifyLineEnd(msg, i)
		}
		f.end = i
		fields = append(fields, f)
	}
	return fields, i, false
}

// verifyLineEnd returns the offset just after the line starting at i.
func verifyLineEnd(msg []byte, i int) int {
	if j := bytes.IndexByte(msg[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(msg)
}

// verifyUnfold joins folded lines (RFC 5322 2.2.3).
func verifyUnfold(v []byte) string {
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return string(bytes.TrimSpace(v))
}
