package mailbox

import (
	"bytes"
	"mime"
	"strings"
)

// partKind says where a part sits, which decides its defaults.
type partKind int

const (
	partRoot        partKind = iota // the message itself
	partChild                       // a child of a multipart
	partDigestChild                 // a child of a multipart/digest
	partEnclosed                    // the message enclosed in a message/rfc822 part
)

// field is one header field, as slices of the raw message.
type field struct {
	name  []byte
	value []byte // after the colon, folded, with the final line end
}

// is reports whether the field's name is key, which must be lower-case
// ASCII.
func (f field) is(key string) bool {
	if len(f.name) != len(key) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := f.name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != key[i] {
			return false
		}
	}
	return true
}

// unfolded returns the field value without line ends and surrounding white
// space (RFC 5322 section 2.2.3).
func (f field) unfolded() string {
	v := f.value
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(bytes.Trim(v, " \t"))
	}
	b := make([]byte, 0, len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	return string(bytes.Trim(b, " \t"))
}

// parsePart analyses the entity raw[hs:end] and returns it with its header
// fields.
func (a *analyzer) parsePart(hs, end, depth int, kind partKind) (*Part, []field) {
	a.parts++
	bs, fields := a.scanHeader(hs, end)
	p := &Part{HeaderStart: int64(hs), BodyStart: int64(bs), End: int64(end), Size: int64(end - bs)}
	boundary := a.describe(p, fields, kind)
	if kind == partEnclosed {
		a.appendEnclosedHeader(fields)
	}
	if kind != partRoot {
		a.appendPartHeader(fields, p)
	}

	switch {
	case p.Type == "multipart":
		switch {
		case boundary == "":
			p.makeLeaf("text", "plain") // RFC 2046 section 5.1.1: boundary is required
		case depth >= a.lim.MaxDepth || a.parts >= a.lim.MaxParts:
			a.truncated = true
			p.makeLeaf("application", "octet-stream")
		default:
			a.multipart(p, boundary, depth)
			if len(p.Children) == 0 {
				p.makeLeaf("text", "plain")
			}
		}
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global"):
		switch {
		case p.Encoding == "BASE64" || p.Encoding == "QUOTED-PRINTABLE":
			// RFC 2046 section 5.2.1 forbids encoding message/rfc822; the
			// offsets could not point into the encoded message.
			p.makeLeaf("application", "octet-stream")
		case depth >= a.lim.MaxDepth || a.parts >= a.lim.MaxParts:
			a.truncated = true
			p.makeLeaf("application", "octet-stream")
		default:
			msg, msgFields := a.parsePart(bs, end, depth+1, partEnclosed)
			env := a.envelope(msgFields)
			p.Message, p.Envelope = msg, &env
		}
	}

	if p.Type == "text" && p.Params["charset"] == "" {
		// RFC 2045 section 5.2; other IMAP servers show it too.
		if p.Params == nil {
			p.Params = make(map[string]string, 1)
		}
		p.Params["charset"] = "us-ascii"
	}
	if p.Type == "text" || p.Message != nil {
		p.Lines = int64(bytes.Count(a.raw[bs:end], []byte{'\n'}))
	}
	if p.Type == "text" {
		a.appendBodyText(p)
	}
	return p, fields
}

// makeLeaf turns p into a leaf of the given type, for a part whose declared
// structure cannot be shown.
func (p *Part) makeLeaf(typ, subtype string) {
	p.Type, p.Subtype = typ, subtype
	p.Params = nil
	p.Children = nil
}

// scanHeader finds the end of the header block that starts at hs, and splits
// it into fields. The header ends after the first empty line, or before the
// first line that is neither a field nor a continuation line: then the part
// has no separator line and its body starts there (as a header without a
// separator is most likely a body without a header). An mbox "From " line at
// the start is skipped. Fields beyond MaxHeaderBytes are left out but the end
// of the header is still found.
func (a *analyzer) scanHeader(hs, end int) (bs int, fields []field) {
	limit := end
	if a.lim.MaxHeaderBytes < end-hs {
		limit = hs + a.lim.MaxHeaderBytes
	}
	inField := false // the previous line belongs to a field (kept or not)
	over := false    // fields are no longer kept
	for i := hs; i < end; {
		next := end
		if nl := bytes.IndexByte(a.raw[i:end], '\n'); nl >= 0 {
			next = i + nl + 1
		}
		line := a.raw[i:next]
		content := trimEOL(line)
		switch {
		case len(content) == 0:
			return next, fields
		case content[0] == ' ' || content[0] == '\t':
			if !inField {
				return i, fields
			}
			if !over {
				if next > limit {
					over, a.truncated = true, true
					fields = fields[:len(fields)-1]
				} else {
					// The continuation line directly follows the value in
					// raw, so the value slice can grow over it.
					last := &fields[len(fields)-1]
					last.value = last.value[:len(last.value)+len(line)]
				}
			}
		default:
			colon := fieldColon(content)
			if colon < 0 {
				if i == hs && bytes.HasPrefix(content, []byte("From ")) {
					inField = false
					i = next
					continue
				}
				return i, fields
			}
			inField = true
			if !over && next > limit {
				over, a.truncated = true, true
			}
			if !over {
				fields = append(fields, field{
					name:  bytes.TrimRight(content[:colon], " \t"),
					value: line[colon+1:],
				})
			}
		}
		i = next
	}
	return end, fields
}

// trimEOL removes a final LF or CRLF.
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	return line
}

// fieldColon returns the index of the colon that ends the field name at the
// start of line, or -1 if the line is not a header field. A name is printable
// ASCII or 8-bit octets (RFC 5322 section 3.6.8, leniently); white space may
// precede the colon (obsolete syntax, RFC 5322 section 4.5).
func fieldColon(line []byte) int {
	for i, c := range line {
		switch {
		case c == ':':
			if i == 0 {
				return -1
			}
			return i
		case c == ' ' || c == '\t':
			if i == 0 {
				return -1
			}
			j := i
			for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
				j++
			}
			if j < len(line) && line[j] == ':' {
				return j
			}
			return -1
		case c < ' ' || c == 0x7f:
			return -1
		}
	}
	return -1
}

// describe fills p from its Content-* fields and returns the boundary
// parameter of a multipart.
func (a *analyzer) describe(p *Part, fields []field, kind partKind) (boundary string) {
	var ct, cte, disp string
	var haveCT, haveCTE, haveID, haveDesc, haveMD5, haveDisp, haveLang, haveLoc bool
	for _, f := range fields {
		if len(f.name) < len("content-id") || (f.name[0]|0x20) != 'c' {
			continue
		}
		switch {
		case !haveCT && f.is("content-type"):
			ct, haveCT = f.unfolded(), true
		case !haveCTE && f.is("content-transfer-encoding"):
			cte, haveCTE = f.unfolded(), true
		case !haveID && f.is("content-id"):
			p.ID, haveID = toUTF8(f.unfolded()), true
		case !haveDesc && f.is("content-description"):
			p.Description, haveDesc = toUTF8(f.unfolded()), true
		case !haveMD5 && f.is("content-md5"):
			p.MD5, haveMD5 = toUTF8(f.unfolded()), true
		case !haveDisp && f.is("content-disposition"):
			disp, haveDisp = f.unfolded(), true
		case !haveLang && f.is("content-language"):
			p.Language, haveLang = parseLanguage(f.unfolded()), true
		case !haveLoc && f.is("content-location"):
			// RFC 2557 section 4.4.1: a folded URL is unfolded without the
			// white space.
			p.Location, haveLoc = toUTF8(strings.Join(strings.Fields(f.unfolded()), "")), true
		}
	}

	typ, sub, params := "", "", map[string]string(nil)
	if haveCT {
		typ, sub, params = a.parseContentType(ct)
	}
	if typ == "" {
		// RFC 2045 section 5.2: no Content-Type, or an invalid one, means
		// text/plain; charset=us-ascii, except in a digest.
		if kind == partDigestChild && !haveCT {
			typ, sub = "message", "rfc822"
		} else {
			typ, sub = "text", "plain"
		}
	}
	p.Type, p.Subtype, p.Params = typ, sub, params
	if typ == "multipart" {
		boundary = params["boundary"]
	}

	p.Encoding = parseEncoding(cte)
	if haveDisp {
		p.Disposition, p.DispositionParams = a.parseDisposition(disp)
	}
	return boundary
}

// parseEncoding returns the Content-Transfer-Encoding mechanism in upper
// case, 7BIT when there is none (RFC 2045 section 6.1).
func parseEncoding(v string) string {
	end := 0
	for end < len(v) && isTokenChar(v[end]) {
		end++
	}
	if end == 0 {
		return "7BIT"
	}
	return strings.ToUpper(v[:end])
}

// parseContentType parses a Content-Type value leniently. typ is empty if
// the value is not valid; params may still be set then.
func (a *analyzer) parseContentType(v string) (typ, sub string, params map[string]string) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		mt, params = lenientMediaType(v)
	}
	a.decodeParams(params)
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !isToken(typ) || !isToken(sub) {
		return "", "", params
	}
	return typ, sub, params
}

// parseDisposition parses a Content-Disposition value leniently.
func (a *analyzer) parseDisposition(v string) (string, map[string]string) {
	d, params, err := mime.ParseMediaType(v)
	if err != nil {
		d, params = lenientMediaType(v)
	}
	a.decodeParams(params)
	return toUTF8(d), params
}

// decodeParams decodes RFC 2047 words in parameter values, which RFC 2047
// section 5 forbids but common mail clients write, and ensures UTF-8.
func (a *analyzer) decodeParams(params map[string]string) {
	for k, v := range params {
		params[k] = toUTF8(a.decodeWords(v))
	}
}

// lenientMediaType parses "type/subtype; k=v; ..." after mime.ParseMediaType
// refused it (duplicate or broken parameters, missing subtype, 8-bit octets).
// A broken parameter is skipped; the first of duplicates wins.
func lenientMediaType(v string) (string, map[string]string) {
	mt, rest, _ := strings.Cut(v, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	var params map[string]string
	for rest != "" {
		var item string
		item, rest = cutParam(rest)
		k, val, ok := strings.Cut(item, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || !isToken(k) {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' {
			val = unquote(val)
		}
		if params == nil {
			params = make(map[string]string)
		}
		if _, dup := params[k]; !dup {
			params[k] = val
		}
	}
	return mt, params
}

// cutParam returns the text before the first ';' of s that is not inside a
// quoted string, and the text after it.
func cutParam(s string) (item, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// unquote removes the quotes and backslash escapes of a quoted string; an
// unterminated one runs to the end.
func unquote(s string) string {
	s = s[1:]
	if !strings.ContainsRune(s, '\\') {
		s, _, _ = strings.Cut(s, `"`)
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseLanguage splits a Content-Language value (RFC 3282).
func parseLanguage(v string) []string {
	var l []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l = append(l, toUTF8(s))
		}
	}
	return l
}

// isTokenChar reports whether c may appear in an RFC 2045 token.
func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// multipart finds the body parts of p between its boundary lines (RFC 2046
// section 5.1.1) and analyses them. The preamble and the epilogue belong to
// no part. Without a close delimiter, the last part runs to the end of p.
func (a *analyzer) multipart(p *Part, boundary string, depth int) {
	kind := partChild
	if p.Subtype == "digest" {
		kind = partDigestChild
	}
	base := int(p.BodyStart)
	body := a.raw[base:p.End]
	delim := make([]byte, 0, 2+len(boundary))
	delim = append(append(delim, "--"...), boundary...)

	start := -1 // start of the current part in body, once a delimiter is seen
	for pos := 0; pos <= len(body); {
		line, next, closing, ok := findDelimiter(body, pos, delim)
		if !ok {
			break
		}
		if start >= 0 {
			// The line end before the delimiter belongs to the delimiter.
			end := line
			if end > 0 && body[end-1] == '\n' {
				end--
				if end > 0 && body[end-1] == '\r' {
					end--
				}
			}
			if !a.addChild(p, base+start, base+max(end, start), depth, kind) {
				return
			}
		}
		if closing {
			return
		}
		start, pos = next, next
	}
	if start >= 0 {
		a.addChild(p, base+start, base+len(body), depth, kind)
	}
}

// addChild analyses a child of p unless MaxParts is reached, and reports
// whether there is room for more.
func (a *analyzer) addChild(p *Part, start, end, depth int, kind partKind) bool {
	if a.parts >= a.lim.MaxParts {
		a.truncated = true
		return false
	}
	child, _ := a.parsePart(start, end, depth+1, kind)
	p.Children = append(p.Children, child)
	return true
}

// findDelimiter finds the next boundary line at or after pos in body: a line
// that is delim, optionally followed by "--" (the close delimiter), then
// optional white space. It returns the offsets of the line and of the next
// line.
func findDelimiter(body []byte, pos int, delim []byte) (line, next int, closing, ok bool) {
	for pos < len(body) {
		i := bytes.Index(body[pos:], delim)
		if i < 0 {
			return 0, 0, false, false
		}
		i += pos
		pos = i + 1
		if i > 0 && body[i-1] != '\n' {
			continue
		}
		j := i + len(delim)
		closing = len(body)-j >= 2 && body[j] == '-' && body[j+1] == '-'
		if closing {
			j += 2
		}
		for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\r') {
			j++
		}
		switch {
		case j == len(body):
			return i, j, closing, true
		case body[j] == '\n':
			return i, j + 1, closing, true
		}
	}
	return 0, 0, false, false
}
