package store

import (
	"encoding/binary"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Fold returns s with every character replaced by a canonical member of
// its simple case folding class (as strings.EqualFold compares them), so
// that case-insensitive matching is a plain substring test.
func Fold(s string) string { return string(AppendFold(nil, s)) }

// AppendFold appends Fold(s) to dst. Invalid UTF-8 is kept as it is.
func AppendFold(dst []byte, s string) []byte {
	dst = slices.Grow(dst, len(s))
	for i := 0; i < len(s); {
		// ASCII, the bulk of most text, is folded eight bytes at a time.
		for i+8 <= len(s) {
			w := le64(s, i)
			if w&0x8080808080808080 != 0 {
				break
			}
			// Bit 7 of each byte that is a lower-case letter: adding
			// 0x80-'a' sets it from 'a' up, adding 0x80-'z'-1 from past 'z'
			// (no byte carries into the next: all are below 0x80).
			lower := ((w + 0x1f1f1f1f1f1f1f1f) ^ (w + 0x0505050505050505)) & 0x8080808080808080
			dst = binary.LittleEndian.AppendUint64(dst, w-lower>>2)
			i += 8
		}
		if i == len(s) {
			break
		}
		// Shorter runs of ASCII are folded in place without append's
		// checks.
		j := i
		for j < len(s) && s[j] < utf8.RuneSelf {
			j++
		}
		if j > i {
			n := len(dst)
			dst = dst[:n+j-i]
			out, in := dst[n:], s[i:j]
			for k := 0; k < len(in) && k < len(out); k++ {
				c := in[k]
				if c-'a' < 26 {
					c -= 'a' - 'A'
				}
				out[k] = c
			}
			i = j
			if i == len(s) {
				break
			}
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[i])
			i++
			continue
		}
		dst = utf8.AppendRune(dst, FoldRune(r))
		i += n
	}
	return dst
}

// le64 reads s[i:i+8] as a little-endian number.
func le64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// FoldRune returns the smallest rune of r's simple folding orbit; for
// ASCII letters that is the upper-case letter.
func FoldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	return m
}
