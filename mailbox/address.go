package mailbox

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrInvalidAddress is wrapped by every error ParseAddress and
// NormalizeDomain return.
var ErrInvalidAddress = errors.New("mailbox: invalid address")

// Length limits of RFC 5321 section 4.5.3.1. The limit on a whole path is
// 256 octets including the angle brackets, which leaves 254 for the address.
const (
	maxLocalLen   = 64
	maxDomainLen  = 255
	maxAddressLen = 254
	// maxInputLen bounds the work done on input that cannot possibly
	// normalise to a valid address. It is generous because IDNA mapping can
	// shrink its input (full-width letters take three octets and map to one).
	maxInputLen = 4 * maxAddressLen
)

// Address is a normalised mail address.
//
// Local is the local part as given, quotes included, except that it is
// lower-cased with strings.ToLower: Pillarbox treats local parts
// case-insensitively, as most hosts do, although RFC 5321 section 2.4 lets
// the receiving host decide. Domain is lower-case ASCII, an internationalised
// domain name being converted to its A-labels (punycode).
type Address struct {
	Local, Domain string
}

// String returns the address as "local@domain".
func (a Address) String() string {
	return a.Local + "@" + a.Domain
}

// Base returns the address without its subaddress: the local part is cut at
// its first '+', so "alice+tag" becomes "alice". A local part that starts
// with '+' is kept whole, and so is a quoted local part.
func (a Address) Base() Address {
	if strings.HasPrefix(a.Local, `"`) {
		return a
	}
	if i := strings.IndexByte(a.Local, '+'); i > 0 {
		a.Local = a.Local[:i]
	}
	return a
}

// addressError is the error ParseAddress and NormalizeDomain return.
type addressError struct {
	what   string // "address" or "domain"
	input  string
	reason string
}

func (e *addressError) Error() string {
	in := e.input
	if len(in) > 100 {
		in = strings.ToValidUTF8(in[:100], "") + "..."
	}
	return fmt.Sprintf("mailbox: invalid %s %q: %s", e.what, in, e.reason)
}

func (e *addressError) Unwrap() error { return ErrInvalidAddress }

// ParseAddress parses and normalises an envelope address: the content of an
// SMTP MAIL or RCPT path without its angle brackets (RFC 5321 section 4.1.2)
// or an address given on the command line. Surrounding white space is
// ignored. The local part may be a dot-string or a quoted string, and may
// hold UTF-8 (RFC 6531). Domain literals such as [127.0.0.1] are refused.
func ParseAddress(s string) (Address, error) {
	in := s
	fail := func(format string, args ...any) (Address, error) {
		return Address{}, &addressError{what: "address", input: in, reason: fmt.Sprintf(format, args...)}
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return fail("empty address")
	}
	if len(s) > maxInputLen {
		return fail("longer than %d octets", maxAddressLen)
	}
	if !utf8.ValidString(s) {
		return fail("not valid UTF-8")
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fail("control character %U at offset %d", r, i)
	}

	var local, domain string
	if strings.HasPrefix(s, `"`) {
		end, reason := quotedStringEnd(s)
		if reason != "" {
			return fail("%s", reason)
		}
		local = s[:end]
		rest := s[end:]
		if rest == "" {
			return fail("missing @")
		}
		if rest[0] != '@' {
			return fail("unexpected %q after quoted local part", rest[0])
		}
		domain = rest[1:]
	} else {
		var ok bool
		local, domain, ok = strings.Cut(s, "@")
		if !ok {
			return fail("missing @")
		}
	}
	if strings.Contains(domain, "@") {
		return fail("more than one @")
	}
	if local == "" || local == `""` {
		return fail("empty local part")
	}
	if domain == "" {
		return fail("empty domain")
	}
	if strings.IndexFunc(domain, unicode.IsSpace) >= 0 {
		return fail("white space in domain")
	}

	// Lower-case first and check what is kept, so that parsing the result of
	// String again gives the same Address.
	local = strings.ToLower(local)
	if !strings.HasPrefix(local, `"`) {
		if i := strings.IndexFunc(local, notAtext); i >= 0 {
			r, _ := utf8.DecodeRuneInString(local[i:])
			return fail("character %q not allowed in local part (quote it)", r)
		}
	}
	if len(local) > maxLocalLen {
		return fail("local part longer than %d octets", maxLocalLen)
	}
	d, err := NormalizeDomain(domain)
	if err != nil {
		var ae *addressError
		if errors.As(err, &ae) {
			return fail("domain %q: %s", domain, ae.reason)
		}
		return fail("%v", err)
	}
	if len(local)+1+len(d) > maxAddressLen {
		return fail("longer than %d octets", maxAddressLen)
	}
	return Address{Local: local, Domain: d}, nil
}

// quotedStringEnd returns the length of the RFC 5321 Quoted-string at the
// start of s, or a reason why there is none. RFC 6531 adds UTF-8 to qtext.
func quotedStringEnd(s string) (int, string) {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return i + 1, ""
		case '\\':
			i++
			if i == len(s) {
				return 0, "unterminated quoted local part"
			}
		}
	}
	return 0, "unterminated quoted local part"
}

// notAtext reports whether r may not appear in an unquoted local part: RFC
// 5321 Dot-string is atext and dots, RFC 6531 adds non-ASCII UTF-8. Dots are
// not checked for position: addresses such as "a..b" exist in the wild.
func notAtext(r rune) bool {
	if r >= utf8.RuneSelf {
		return false
	}
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)
}

// NormalizeDomain returns the domain s in lower case with internationalised
// labels converted to A-labels (RFC 5891, UTS 46 with the idna.Lookup
// profile). It refuses a trailing dot, a domain literal such as [127.0.0.1],
// an all-numeric top-level label (a bare IP address) and anything that is not
// a valid host name (RFC 1123 section 2.1: labels of 1 to 63 letters, digits
// and hyphens, not starting or ending with a hyphen).
func NormalizeDomain(s string) (string, error) {
	in := s
	fail := func(format string, args ...any) (string, error) {
		return "", &addressError{what: "domain", input: in, reason: fmt.Sprintf(format, args...)}
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return fail("empty domain")
	case len(s) > maxInputLen:
		return fail("longer than %d octets", maxDomainLen)
	case strings.HasPrefix(s, "["):
		return fail("domain literals are not supported")
	case !utf8.ValidString(s):
		return fail("not valid UTF-8")
	}
	ascii := isASCII(s)
	d, err := idna.Lookup.ToASCII(s)
	if err == nil && strings.Contains(d, "xn--") {
		// The profile can accept a U-label whose A-label it then refuses
		// (the mapping of U+2137 to a right-to-left letter skips the bidi
		// rule): insist that the result is valid too.
		var again string
		if again, err = idna.Lookup.ToASCII(d); err == nil && again != d {
			err = fmt.Errorf("idna: %q is not stable", d)
		}
	}
	if err != nil {
		if ascii {
			return fail("not a valid host name: %v", err)
		}
		return fail("cannot convert internationalized domain name to ASCII: %v", err)
	}
	// The mapping can turn U+3002 IDEOGRAPHIC FULL STOP and the like into a
	// trailing dot, so check after it.
	if strings.HasSuffix(d, ".") {
		return fail("trailing dot")
	}
	d = strings.ToLower(d)
	if len(d) > maxDomainLen {
		return fail("longer than %d octets", maxDomainLen)
	}
	if reason := hostnameError(d); reason != "" {
		return fail("%s", reason)
	}
	return d, nil
}

// hostnameError checks an ASCII lower-case domain against RFC 1123 host name
// syntax and returns why it fails, or "".
func hostnameError(d string) string {
	var label string
	for rest := d; ; {
		var more bool
		label, rest, more = strings.Cut(rest, ".")
		switch {
		case label == "":
			return "empty label"
		case len(label) > 63:
			return fmt.Sprintf("label %q longer than 63 octets", label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("label %q starts or ends with a hyphen", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Sprintf("character %q not allowed in host name", c)
			}
		}
		if !more {
			break
		}
	}
	// RFC 3696 section 2: a top-level domain is never all-numeric, which
	// also keeps dotted-quad IP addresses out.
	if strings.Trim(label, "0123456789") == "" {
		return "numeric top-level label (an IP address must be a domain literal)"
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
