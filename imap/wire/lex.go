package wire

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Character classes of RFC 9051 section 9.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isAtomChar: ATOM-CHAR = <any CHAR except atom-specials>, where
// atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
// quoted-specials / resp-specials.
func isAtomChar(c byte) bool {
	if c <= 0x1f || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// isAstringChar: ASTRING-CHAR = ATOM-CHAR / resp-specials.
func isAstringChar(c byte) bool { return isAtomChar(c) || c == ']' }

// isTagChar: tag = 1*<any ASTRING-CHAR except "+">.
func isTagChar(c byte) bool { return isAstringChar(c) && c != '+' }

// isListChar: list-char = ATOM-CHAR / list-wildcards / resp-specials.
func isListChar(c byte) bool { return isAstringChar(c) || c == '%' || c == '*' }

func (r *Reader) peek() byte {
	if r.pos < len(r.line) {
		return r.line[r.pos]
	}
	return 0
}

func (r *Reader) atEnd() bool { return r.pos >= len(r.line) }

func (r *Reader) consume(c byte) bool {
	if r.pos < len(r.line) && r.line[r.pos] == c {
		r.pos++
		return true
	}
	return false
}

func (r *Reader) expect(c byte) {
	if !r.consume(c) {
		if c == ' ' {
			if r.atEnd() {
				r.fail("Missing argument")
			}
			r.fail("Expected space")
		}
		r.fail("Expected '%c'", c)
	}
}

func (r *Reader) sp() { r.expect(' ') }

// end checks that the command has no more arguments.
func (r *Reader) end() {
	if !r.atEnd() {
		r.fail("Unexpected extra arguments")
	}
}

// run returns the bytes at r.pos accepted by ok, advancing past them.
func (r *Reader) run(ok func(byte) bool) []byte {
	start := r.pos
	for r.pos < len(r.line) && ok(r.line[r.pos]) {
		r.pos++
	}
	return r.line[start:r.pos]
}

// atom reads an atom; its result is upper-cased when upper is set, for
// keywords compared case-insensitively.
func (r *Reader) atom() string {
	b := r.run(isAtomChar)
	if len(b) == 0 {
		r.fail("Expected atom")
	}
	return string(b)
}

// keyword reads an atom and returns it in upper case.
func (r *Reader) keyword() string {
	b := r.run(isAtomChar)
	if len(b) == 0 {
		r.fail("Expected atom")
	}
	return upperKeyword(b)
}

// keywordFrom reads an atom made of characters ok, in upper case; used
// where an atom may be followed directly by "[" or "<" (fetch-att).
func (r *Reader) keywordFrom(ok func(byte) bool) string {
	b := r.run(ok)
	if len(b) == 0 {
		r.fail("Expected keyword")
	}
	return upperKeyword(b)
}

// atLiteral reports whether a literal ("{" or "~{") starts at r.pos; "~"
// alone is an ASTRING-CHAR.
func (r *Reader) atLiteral() bool {
	switch r.peek() {
	case '{':
		return true
	case '~':
		return r.pos+1 < len(r.line) && r.line[r.pos+1] == '{'
	}
	return false
}

// astring = 1*ASTRING-CHAR / string.
func (r *Reader) astring() string {
	if r.atLiteral() {
		return string(r.literalString())
	}
	if r.peek() == '"' {
		return r.quoted()
	}
	b := r.run(isAstringChar)
	if len(b) == 0 {
		r.fail("Expected string")
	}
	return string(b)
}

// str = quoted / literal.
func (r *Reader) str() string {
	if r.atLiteral() {
		return string(r.literalString())
	}
	if r.peek() == '"' {
		return r.quoted()
	}
	r.fail("Expected string")
	return ""
}

// nstring = string / NIL; ok is false for NIL.
func (r *Reader) nstring() (s string, ok bool) {
	if r.peek() != '"' && r.peek() != '{' {
		if a := r.keyword(); a != "NIL" {
			r.fail("Expected string or NIL")
		}
		return "", false
	}
	return r.str(), true
}

// quoted = DQUOTE *QUOTED-CHAR DQUOTE, with "\\" and "\"" the only escapes.
// 8-bit characters are allowed only as valid UTF-8, and only under
// SetUTF8Accept or SetUTF8Quoted (RFC 9051 section 9 QUOTED-CHAR, RFC 6855
// section 3); RFC 3501's QUOTED-CHAR is 7-bit.
func (r *Reader) quoted() string {
	r.expect('"')
	start := r.pos
	escaped := false
	eightBit := false
	for {
		if r.pos >= len(r.line) {
			r.fail("Unterminated quoted string")
		}
		c := r.line[r.pos]
		switch {
		case c == '"':
			s := r.line[start:r.pos]
			r.pos++
			if eightBit && !utf8.Valid(s) {
				r.fail("Invalid UTF-8 in quoted string")
			}
			if !escaped {
				return string(s)
			}
			return unescape(s)
		case c == '\\':
			if r.pos+1 >= len(r.line) || (r.line[r.pos+1] != '\\' && r.line[r.pos+1] != '"') {
				r.fail("Invalid escape in quoted string")
			}
			escaped = true
			r.pos += 2
			continue
		case c == 0 || c == '\r' || c == '\n':
			r.fail("Invalid character in quoted string")
		case c >= 0x80:
			if !r.utf8 && !r.utf8q {
				r.fail("8-bit character in quoted string")
			}
			eightBit = true
		}
		r.pos++
	}
}

func unescape(s []byte) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func parseNum64(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n < 0 {
			return 0, false
		}
	}
	return n, true
}

// number64 = 1*DIGIT, at most 2^63-1 (RFC 9051 section 9).
func (r *Reader) number64() int64 {
	n, ok := parseNum64(r.run(isDigit))
	if !ok {
		r.fail("Expected number")
	}
	return n
}

// number = 1*DIGIT, a 32-bit unsigned value.
func (r *Reader) number() uint32 {
	n := r.number64()
	if n > 0xffffffff {
		r.fail("Number out of range")
	}
	return uint32(n)
}

// nzNumber = digit-nz *DIGIT.
func (r *Reader) nzNumber() uint32 {
	n := r.number()
	if n == 0 {
		r.fail("Number must not be zero")
	}
	return n
}

// modSeq: mod-sequence-value = 1*DIGIT, positive 63-bit (RFC 7162 section 7).
func (r *Reader) modSeq(zeroOK bool) uint64 {
	n := r.number64()
	if n == 0 && !zeroOK {
		r.fail("Invalid mod-sequence value")
	}
	return uint64(n)
}

// list reads "(" item *(SP item) ")" (or "()" when empty is set), calling
// item for each element, bounded by MaxItems and MaxDepth.
func (r *Reader) list(empty bool, item func()) {
	r.expect('(')
	r.enter()
	if r.consume(')') {
		if !empty {
			r.fail("Empty list")
		}
		r.leave()
		return
	}
	for n := 0; ; n++ {
		if n >= r.opts.MaxItems {
			r.fail("Too many list items")
		}
		item()
		if r.consume(')') {
			r.leave()
			return
		}
		if r.atEnd() {
			r.fail("Expected ')'")
		}
		r.sp()
	}
}

func (r *Reader) enter() {
	r.depth++
	if r.depth > r.opts.MaxDepth {
		// An implementation limit, not a syntax error (RFC 5530 LIMIT).
		panic(&parseError{no: true, code: "LIMIT", reason: "Nesting too deep"})
	}
}

func (r *Reader) leave() { r.depth-- }

var months = [...]string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

// date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-"
// date-month "-" date-year. The result is midnight UTC of that day; the
// session interprets it in the server's zone (RFC 9051 section 6.4.4).
func (r *Reader) date() time.Time {
	q := r.consume('"')
	d := r.dateText(false)
	if q {
		r.expect('"')
	}
	return d
}

func (r *Reader) digits(min, max int) int {
	start := r.pos
	for r.pos < len(r.line) && r.pos-start < max && isDigit(r.line[r.pos]) {
		r.pos++
	}
	if r.pos-start < min {
		r.fail("Invalid date")
	}
	n := 0
	for _, c := range r.line[start:r.pos] {
		n = n*10 + int(c-'0')
	}
	return n
}

// dateText parses date-day "-" date-month "-" date-year; fixed is set for
// date-day-fixed (date-time), where a single-digit day has a leading space.
func (r *Reader) dateText(fixed bool) time.Time {
	if fixed {
		r.consume(' ')
	}
	day := r.digits(1, 2)
	r.expect('-')
	if r.pos+3 > len(r.line) {
		r.fail("Invalid date")
	}
	mon := strings.ToUpper(string(r.line[r.pos : r.pos+3]))
	r.pos += 3
	m := 0
	for i, name := range months {
		if name == mon {
			m = i + 1
		}
	}
	r.expect('-')
	year := r.digits(4, 4)
	if m == 0 || day < 1 || day > 31 {
		r.fail("Invalid date")
	}
	t := time.Date(year, time.Month(m), day, 0, 0, 0, 0, time.UTC)
	if t.Day() != day {
		r.fail("Invalid date")
	}
	return t
}

// dateTime = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP
// zone DQUOTE.
func (r *Reader) dateTime() time.Time {
	r.expect('"')
	d := r.dateText(true)
	r.sp()
	h := r.digits(2, 2)
	r.expect(':')
	mi := r.digits(2, 2)
	r.expect(':')
	s := r.digits(2, 2)
	r.sp()
	sign := 1
	switch {
	case r.consume('+'):
	case r.consume('-'):
		sign = -1
	default:
		r.fail("Invalid time zone")
	}
	z := r.digits(4, 4)
	r.expect('"')
	if h > 23 || mi > 59 || s > 60 || z%100 > 59 {
		r.fail("Invalid time")
	}
	off := sign * ((z/100)*3600 + (z%100)*60)
	return time.Date(d.Year(), d.Month(), d.Day(), h, mi, s, 0, time.FixedZone("", off))
}
