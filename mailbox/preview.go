package mailbox

import (
	"strings"
	"unicode"
)

// PreviewRunes is the longest preview Preview makes: RFC 8970 section 3
// allows at most 256 characters; mail apps show a line or two.
const PreviewRunes = 200

// previewScan bounds the octets of the text part a preview reads.
const previewScan = 16 << 10

// PreviewPart returns the part a preview (RFC 8970) is made of: the
// first text/plain leaf that is not an attachment, else the first
// text/html one; nil if there is neither.
func PreviewPart(root *Part) *Part {
	var plain, html *Part
	var walk func(p *Part)
	walk = func(p *Part) {
		if plain != nil || p == nil {
			return
		}
		if p.IsMultipart() {
			for _, c := range p.Children {
				walk(c)
			}
			return
		}
		if p.Type != "text" || p.Disposition == "attachment" {
			return
		}
		switch p.Subtype {
		case "plain":
			plain = p
		case "html":
			if html == nil {
				html = p
			}
		}
	}
	walk(root)
	if plain != nil {
		return plain
	}
	return html
}

// PreviewRange returns the octets of p a preview reads: the start of its
// body.
func PreviewRange(p *Part) (start, end int64) {
	return p.BodyStart, min(p.End, p.BodyStart+previewScan)
}

// Preview makes the preview text of part p from body, the octets
// PreviewRange named: transfer encoding undone, charset converted, HTML
// reduced to text, quoted lines (replies' "> ...") left out, white space
// collapsed, and cut to PreviewRunes characters.
func Preview(p *Part, body []byte) string {
	decoded, err := DecodeBody(p.Encoding, body)
	if err != nil {
		decoded = body
	}
	text := convertCharset(p.Params["charset"], decoded)
	if p.Subtype == "html" {
		text = appendHTMLText(nil, text)
	}
	var b strings.Builder
	n := 0
	space := false
	for _, line := range strings.Split(strings.ToValidUTF8(string(text), "\uFFFD"), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), ">") {
			continue
		}
		for _, r := range line {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				space = b.Len() > 0
				continue
			}
			if n >= PreviewRunes {
				return b.String()
			}
			if space {
				if n+1 >= PreviewRunes {
					return b.String()
				}
				b.WriteByte(' ')
				n++
				space = false
			}
			b.WriteRune(r)
			n++
		}
		space = b.Len() > 0
	}
	return b.String()
}
