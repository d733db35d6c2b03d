package wire

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 of RFC 3501 section 5.1.3: printable US-ASCII stands for
// itself except "&", written "&-"; anything else is UTF-16BE in a modified
// BASE64 run ("," for "/", no padding) between "&" and "-".

const mb64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

// ErrInvalidUTF7 is returned for a mailbox name that is not valid modified
// UTF-7.
var ErrInvalidUTF7 = errors.New("wire: invalid modified UTF-7")

func mb64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == ',':
		return 63
	}
	return -1
}

// DecodeMUTF7 decodes a modified UTF-7 mailbox name to UTF-8. It accepts
// only the canonical encoding (the one EncodeMUTF7 produces), so a name has
// one spelling: no raw 8-bit or control characters, no base64 for what can
// stand for itself, no adjacent runs, no leftover bits, paired surrogates.
func DecodeMUTF7(s string) (string, error) { return decodeMUTF7(s, false) }

// decodeMUTF7 decodes s; with mixed, UTF-8 characters stand for
// themselves beside the encoded runs. That is what clients send to a
// server advertising IMAP4rev2 (whose mailbox names are UTF-8, RFC 9051
// 5.1) but not UTF8=ACCEPT: go-imap's client, for one, sends UTF-8 with
// only '&' escaped.
func decodeMUTF7(s string, mixed bool) (string, error) {
	if mixed && !utf8.ValidString(s) {
		return "", ErrInvalidUTF7
	}
	if strings.IndexByte(s, '&') < 0 {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] == 0x7f || s[i] > 0x7f && !mixed {
				return "", ErrInvalidUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	var units []uint16
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c == 0x7f || c > 0x7f && !mixed {
			return "", ErrInvalidUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		i++
		j := strings.IndexByte(s[i:], '-')
		if j < 0 {
			return "", ErrInvalidUTF7
		}
		run := s[i : i+j]
		i += j + 1
		if run == "" {
			b.WriteByte('&')
			continue
		}
		units = units[:0]
		var acc uint32
		bits := 0
		for k := 0; k < len(run); k++ {
			v := mb64Value(run[k])
			if v < 0 {
				return "", ErrInvalidUTF7
			}
			acc = acc<<6 | uint32(v)
			bits += 6
			if bits >= 16 {
				bits -= 16
				units = append(units, uint16(acc>>bits))
				acc &= 1<<bits - 1
			}
		}
		if bits >= 6 || acc != 0 || len(units) == 0 {
			return "", ErrInvalidUTF7
		}
		for k := 0; k < len(units); k++ {
			u := rune(units[k])
			switch {
			case utf16.IsSurrogate(u):
				if u >= 0xdc00 || k+1 >= len(units) {
					return "", ErrInvalidUTF7
				}
				r := utf16.DecodeRune(u, rune(units[k+1]))
				if r == utf8.RuneError {
					return "", ErrInvalidUTF7
				}
				b.WriteRune(r)
				k++
			case u >= 0x20 && u <= 0x7e:
				return "", ErrInvalidUTF7 // must stand for itself
			default:
				b.WriteRune(u)
			}
		}
		// A run followed at once by another run should have been one.
		if i < len(s) && s[i] == '&' && !strings.HasPrefix(s[i:], "&-") {
			return "", ErrInvalidUTF7
		}
	}
	return b.String(), nil
}

// EncodeMUTF7 encodes a UTF-8 mailbox name in modified UTF-7. Invalid
// UTF-8 bytes are encoded as U+FFFD.
func EncodeMUTF7(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '&' {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	return string(AppendMUTF7(nil, s))
}

// AppendMUTF7 appends the modified UTF-7 form of s to dst.
func AppendMUTF7(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e {
			dst = append(dst, c)
			if c == '&' {
				dst = append(dst, '-')
			}
			i++
			continue
		}
		dst = append(dst, '&')
		var acc uint32
		bits := 0
		for i < len(s) && (s[i] < 0x20 || s[i] > 0x7e) {
			r, n := utf8.DecodeRuneInString(s[i:])
			i += n
			var units [2]uint16
			k := 1
			if r >= 0x10000 {
				a, b := utf16.EncodeRune(r)
				units[0], units[1], k = uint16(a), uint16(b), 2
			} else {
				units[0] = uint16(r)
			}
			for _, u := range units[:k] {
				acc = acc<<16 | uint32(u)
				bits += 16
				for bits >= 6 {
					bits -= 6
					dst = append(dst, mb64[acc>>bits&63])
				}
				acc &= 1<<bits - 1
			}
		}
		if bits > 0 {
			dst = append(dst, mb64[acc<<(6-bits)&63])
		}
		dst = append(dst, '-')
	}
	return dst
}
