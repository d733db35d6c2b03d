package mailbox

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
)

// appendBodyText adds the decoded text of the text/* leaf p to the body
// text: transfer encoding undone (an unknown one is taken as 8bit), charset
// converted to UTF-8, HTML reduced to its text.
func (a *analyzer) appendBodyText(p *Part) {
	room := a.lim.MaxTextBytes - a.text.Len()
	if room <= 0 {
		if p.Size > 0 {
			a.truncated = true
		}
		return
	}
	body := a.raw[p.BodyStart:p.End]
	// Do not decode far more than can be kept: quoted-printable at most
	// triples the size, and no charset takes more than 4 octets for a
	// character that UTF-8 writes in 1.
	if len(body)/12 > room {
		body = body[:12*room]
		a.truncated = true
	}
	var b []byte
	switch p.Encoding {
	case "BASE64":
		b = decodeBase64(body)
	case "QUOTED-PRINTABLE":
		b = decodeQuotedPrintable(body)
	default:
		b = body
	}
	b = toUTF8Bytes(convertCharset(p.Params["charset"], b))
	if p.Subtype == "html" {
		b = appendHTMLText(nil, b)
	}
	a.appendText(b)
}

// appendText adds b, valid UTF-8, to the body text on a line of its own,
// with CRLF turned into LF, as far as MaxTextBytes allows.
func (a *analyzer) appendText(b []byte) {
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	room := a.lim.MaxTextBytes - a.text.Len()
	if a.text.Len() > 0 && a.lastTextByte != '\n' {
		if room <= 1 {
			a.truncated = true
			return
		}
		a.writeText([]byte{'\n'})
		room--
	}
	if room <= 0 {
		a.truncated = true
		return
	}
	if a.text.Len() == 0 {
		// Text is usually much smaller than the message; this avoids most
		// of the growing.
		a.text.Grow(min(room, 2*len(b)+256))
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			i = len(b)
		}
		chunk := b[:i]
		if len(chunk) > room {
			// Cut at a character boundary.
			n := room
			for n > 0 && !utf8.RuneStart(chunk[n]) {
				n--
			}
			a.writeText(chunk[:n])
			a.truncated = true
			return
		}
		a.writeText(chunk)
		room -= len(chunk)
		if i == len(b) {
			return
		}
		b = b[i+1:]
		if len(b) == 0 || b[0] != '\n' {
			// A lone CR is a line end too.
			if room == 0 {
				a.truncated = true
				return
			}
			a.writeText([]byte{'\n'})
			room--
		}
	}
}

func (a *analyzer) writeText(b []byte) {
	if len(b) > 0 {
		a.text.Write(b)
		a.lastTextByte = b[len(b)-1]
	}
}

// convertCharset converts b from the named charset to UTF-8 with go-message's
// charset tables. UTF-8, US-ASCII, no charset and an unknown charset leave b
// as it is.
func convertCharset(charset string, b []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return b
	}
	if message.CharsetReader == nil {
		return b
	}
	r, err := message.CharsetReader(charset, bytes.NewReader(b))
	if err != nil || r == nil {
		return b
	}
	out, err := io.ReadAll(r)
	if err != nil && len(out) == 0 {
		return b
	}
	return out
}

// decodeBase64 decodes a base64 body, skipping characters outside the
// alphabet and tolerating missing or misplaced padding: a '=' ends a group,
// as when encoded pieces are concatenated.
func decodeBase64(src []byte) []byte {
	dst := make([]byte, base64.RawStdEncoding.DecodedLen(len(src)))
	if n, err := base64.StdEncoding.Decode(dst, src); err == nil {
		return dst[:n]
	}
	out := dst[:0]
	var group []byte
	flush := func() {
		if len(group)%4 == 1 {
			group = group[:len(group)-1]
		}
		n, _ := base64.RawStdEncoding.Decode(dst[len(out):cap(dst)], group)
		out = out[:len(out)+n]
		group = group[:0]
	}
	group = make([]byte, 0, len(src))
	for _, c := range src {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			group = append(group, c)
		case c == '=':
			if len(group)%4 != 0 {
				flush()
			}
		}
	}
	flush()
	return out
}

// decodeQuotedPrintable decodes a quoted-printable body (RFC 2045 section
// 6.7) leniently: a '=' that starts no valid escape is kept.
//
// White space (space, tab) at the end of an encoded line, and at the end
// of the body, is transport padding that rule 3 tells the decoder to
// delete; a '=' followed by such padding and the line end is a soft line
// break (rule 5), and one with only padding after it at the end of the
// body is dropped. A line break is CRLF in the decoded text (rule 4), also
// where the stored message has a bare LF, as Dovecot decodes it.
func decodeQuotedPrintable(src []byte) []byte {
	dst := make([]byte, 0, len(src))
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case ' ', '\t':
			j := skipBlanks(src, i)
			if !atLineEnd(src, j) {
				dst = append(dst, src[i:j]...)
			}
			i = j - 1
		case '\n':
			if i == 0 || src[i-1] != '\r' {
				dst = append(dst, '\r')
			}
			dst = append(dst, '\n')
		case '=':
			if i+2 < len(src) && isHex(src[i+1]) && isHex(src[i+2]) {
				dst = append(dst, unhex(src[i+1])<<4|unhex(src[i+2]))
				i += 2
				continue
			}
			// Soft line break: '=', optional padding, line end.
			j := skipBlanks(src, i+1)
			switch {
			case j == len(src):
				i = j
			case src[j] == '\n':
				i = j
			case src[j] == '\r' && j+1 < len(src) && src[j+1] == '\n':
				i = j + 1
			default:
				dst = append(dst, c)
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// skipBlanks returns the index of the first byte at or after i in src
// that is neither a space nor a tab.
func skipBlanks(src []byte, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	return i
}

// atLineEnd reports whether src[i:] starts with a line end (CRLF or a bare
// LF) or is empty. A bare CR ends no line.
func atLineEnd(src []byte, i int) bool {
	return i == len(src) || src[i] == '\n' || src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// appendHTMLText appends the text of an HTML document to dst, for
// searching, not for reading: tags and comments are dropped, with the
// content of script and style elements; block elements end lines; white
// space is collapsed; character references are decoded.
func appendHTMLText(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		if src[i] != '<' {
			j := bytes.IndexByte(src[i:], '<')
			if j < 0 {
				j = len(src) - i
			}
			dst = appendCollapsed(dst, src[i:i+j])
			i += j
			continue
		}
		rest := src[i+1:]
		switch {
		case bytes.HasPrefix(rest, []byte("!--")):
			end := bytes.Index(rest[3:], []byte("-->"))
			if end < 0 {
				return dst
			}
			i += 1 + 3 + end + 3
		case len(rest) > 0 && (isLetter(rest[0]) || rest[0] == '/' || rest[0] == '!' || rest[0] == '?'):
			end := bytes.IndexByte(rest, '>')
			if end < 0 {
				// Not a tag, and no later '<' can start one.
				return appendCollapsed(dst, src[i:])
			}
			closing := rest[0] == '/'
			name := rest[:end]
			if closing {
				name = name[1:]
			}
			n := 0
			for n < len(name) && (isLetter(name[n]) || '0' <= name[n] && name[n] <= '9') {
				n++
			}
			name = name[:n]
			i += 1 + end + 1
			switch {
			case !closing && (bytes.EqualFold(name, []byte("script")) || bytes.EqualFold(name, []byte("style"))):
				if k := indexCloseTag(src[i:], name); k >= 0 {
					i += k
				} else {
					return dst
				}
			case isBlockTag(name):
				dst = appendSeparator(dst, '\n')
			case bytes.EqualFold(name, []byte("td")) || bytes.EqualFold(name, []byte("th")):
				dst = appendSeparator(dst, ' ')
			}
		default:
			dst = appendCollapsed(dst, src[i:i+1])
			i++
		}
	}
	return dst
}

// indexCloseTag returns the index of "</name" in b, ignoring case, or -1.
func indexCloseTag(b, name []byte) int {
	for off := 0; ; {
		k := bytes.Index(b[off:], []byte("</"))
		if k < 0 {
			return -1
		}
		k += off
		if rest := b[k+2:]; len(rest) >= len(name) && bytes.EqualFold(rest[:len(name)], name) {
			return k
		}
		off = k + 2
	}
}

func isLetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isBlockTag reports whether the element named starts a new line of text.
func isBlockTag(name []byte) bool {
	var buf [10]byte
	if len(name) == 0 || len(name) > len(buf) {
		return false
	}
	lower := buf[:len(name)]
	for i, c := range name {
		lower[i] = c | 0x20
	}
	switch string(lower) {
	case "br", "p", "div", "tr", "li", "ul", "ol", "table", "title", "blockquote",
		"hr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dt", "dd", "section", "article":
		return true
	}
	return false
}

// appendCollapsed appends HTML text with character references decoded and
// runs of white space turned into one space.
func appendCollapsed(dst, text []byte) []byte {
	if bytes.IndexByte(text, '&') >= 0 {
		text = []byte(html.UnescapeString(string(text)))
	}
	for _, c := range text {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
			dst = appendSeparator(dst, ' ')
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// appendSeparator appends a space or line end unless dst is empty or already
// ends with one; a line end replaces a space.
func appendSeparator(dst []byte, sep byte) []byte {
	if len(dst) == 0 {
		return dst
	}
	switch last := dst[len(dst)-1]; {
	case last == '\n':
		return dst
	case last == ' ':
		if sep == '\n' {
			dst[len(dst)-1] = '\n'
		}
		return dst
	}
	return append(dst, sep)
}

// toUTF8 returns s if it is valid UTF-8, and otherwise s with every octet
// that is not part of a valid UTF-8 sequence taken as ISO-8859-1: 8-bit
// header fields and bodies without a charset are UTF-8 or Latin-1 more
// often than anything else.
func toUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string(latin1Fallback(make([]byte, 0, len(s)+8), s))
}

// toUTF8Bytes is toUTF8 for a byte slice.
func toUTF8Bytes(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return latin1Fallback(make([]byte, 0, len(b)+8), string(b))
}

func latin1Fallback(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			r = rune(s[i])
		}
		dst = utf8.AppendRune(dst, r)
		i += size
	}
	return dst
}
