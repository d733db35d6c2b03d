package mailbox

import (
	"bytes"
	"strings"
)

// HeaderFields returns the fields of a header block (raw[HeaderStart:
// BodyStart] of a Part) named in names, or with not those not named, as
// they are written (folding kept) and in their order, followed by an empty
// line: BODY[HEADER.FIELDS (...)] and BODY[HEADER.FIELDS.NOT (...)] of RFC
// 9051 6.4.5. Names compare without regard to ASCII case.
func HeaderFields(block []byte, names []string, not bool) []byte {
	var out []byte
	keep := false
	for len(block) > 0 {
		line := block
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i+1], block[i+1:]
		} else {
			block = nil
		}
		content := bytes.TrimRight(line, "\r\n")
		if len(content) == 0 {
			break // the empty line that ends the header
		}
		if content[0] != ' ' && content[0] != '\t' {
			keep = false
			if colon := bytes.IndexByte(content, ':'); colon > 0 {
				name := string(bytes.TrimRight(content[:colon], " \t"))
				named := false
				for _, n := range names {
					if strings.EqualFold(n, name) {
						named = true
						break
					}
				}
				keep = named != not
			}
		}
		if keep {
			out = append(out, line...)
			if line[len(line)-1] != '\n' {
				out = append(out, '\r', '\n')
			}
		}
	}
	return append(out, '\r', '\n')
}
