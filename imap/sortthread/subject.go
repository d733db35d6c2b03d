package sortthread

import (
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/unicode/norm"
)

// BaseSubject extracts the base subject of a raw Subject header value as RFC
// 5256 section 2.1 defines it, and tells whether the message counts as a reply
// or forward: the extraction removed a subj-refwd ("Re:", "Fwd:", "Fw[x]:"),
// a "(fwd)" trailer or a "[fwd: ...]" wrapping (RFC 5256 section 3,
// REFERENCES step 5).
//
// Encoded words are decoded with the charsets go-message knows; a word in a
// charset it does not know is left as it stands, as is any byte that is not
// UTF-8. The result keeps its case: compare it with CollationKey.
func BaseSubject(raw string) (base string, replyOrForward bool) {
	s := normalizeSubject(decodeWords(raw))
	for {
		// (2) Remove subj-trailers: "(fwd)" and WSP, from the end.
		for {
			if n := len(s); n > 0 && s[n-1] == ' ' {
				s = s[:n-1]
			} else if n >= 5 && strings.EqualFold(s[n-5:], "(fwd)") {
				s = s[:n-5]
				replyOrForward = true
			} else {
				break
			}
		}
		// (3)-(5) Remove subj-leaders and leading subj-blobs until
		// neither matches.
		for {
			changed := false
			for {
				if len(s) > 0 && s[0] == ' ' {
					s = s[1:]
				} else if n := matchRefwdLeader(s); n > 0 {
					s = s[n:]
					replyOrForward = true
				} else {
					break
				}
				changed = true
			}
			// (4) A blob goes only if a non-empty subj-base is left.
			// Step (3) cannot match again until a whole run of blobs
			// is gone (a refwd starts with a letter, a blob with '[',
			// and the text after the run did not make a leader), so
			// (4) is applied to the run at once: every blob, or all but
			// the last when nothing else follows. One at a time, a
			// subject of many "[a]" cost time quadratic in its length.
			if prev, last := blobRun(s); last > 0 {
				if hasNonWSP(s[last:]) {
					s = s[last:]
					changed = true
				} else if prev > 0 {
					s = s[prev:]
					changed = true
				}
			}
			if !changed {
				break
			}
		}
		// (6) "[fwd:" subject "]": unwrap and start again from (2).
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			replyOrForward = true
			continue
		}
		return s, replyOrForward
	}
}

// decodeWords turns RFC 2047 encoded words into UTF-8. A Subject that does
// not decode (an unknown charset) is kept raw: sorting it by its bytes is
// better than refusing the whole SORT.
func decodeWords(raw string) string {
	if !strings.Contains(raw, "=?") {
		return raw
	}
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	s, err := dec.DecodeHeader(raw)
	if err != nil {
		return raw
	}
	return s
}

// normalizeSubject is step (1) after decoding: line breaks of folding go, tabs
// become spaces and runs of spaces become one.
func normalizeSubject(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\t' || c == '\r' || c == '\n' || (c == ' ' && i+1 < len(s) && s[i+1] == ' ') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\r', '\n':
			// A continuation: the WSP that follows stays.
			continue
		case '\t', ' ':
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// matchBlob returns the length of the subj-blob ("[" *BLOBCHAR "]" *WSP) at
// the start of s, or 0.
func matchBlob(s string) int {
	if len(s) == 0 || s[0] != '[' {
		return 0
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return 0
	}
	n := end + 2
	for n < len(s) && s[n] == ' ' {
		n++
	}
	return n
}

// blobRun returns where the second-to-last and the last subj-blob of the
// run of blobs at the start of s end: (0, 0) for no blob, (0, n) for one.
func blobRun(s string) (prev, last int) {
	for {
		n := matchBlob(s[last:])
		if n == 0 {
			return prev, last
		}
		prev, last = last, last+n
	}
}

// matchRefwdLeader returns the length of the subj-leader "*subj-blob
// subj-refwd" at the start of s, or 0. subj-refwd is ("re" / ("fw" ["d"]))
// *WSP [subj-blob] ":".
func matchRefwdLeader(s string) int {
	n := 0
	for {
		b := matchBlob(s[n:])
		if b == 0 {
			break
		}
		n += b
	}
	rest := s[n:]
	switch {
	case hasPrefixFold(rest, "re"):
		n += 2
	case hasPrefixFold(rest, "fwd"):
		n += 3
	case hasPrefixFold(rest, "fw"):
		n += 2
	default:
		return 0
	}
	for n < len(s) && s[n] == ' ' {
		n++
	}
	n += matchBlob(s[n:])
	if n < len(s) && s[n] == ':' {
		return n + 1
	}
	return 0
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// hasNonWSP tells whether s holds a subj-base: at least one character that is
// not white space (the only WSP left after step 1 is ' ').
func hasNonWSP(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			return true
		}
	}
	return false
}

// CollationKey maps s so that comparing keys byte by byte orders strings as
// the i;unicode-casemap collation does (RFC 5051 section 2): every character
// goes to its title case (simple mappings, as Go's unicode tables have them),
// then the string to its canonical decomposition (NFD), so that "É" and
// "e" followed by U+0301 are equal and sort among the E's.
func CollationKey(s string) string {
	lower := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return norm.NFD.String(titleCase(s))
		}
		lower = lower || ('a' <= c && c <= 'z')
	}
	if lower {
		// ASCII only: title case and upper case agree.
		return strings.ToUpper(s)
	}
	return s
}

// titleCase maps every character of s to its title case. Bytes that are not
// UTF-8 (a raw 8-bit header in an unknown charset) are kept as they are, so
// that such subjects still sort apart instead of all becoming U+FFFD.
func titleCase(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[i])
		} else {
			b = utf8.AppendRune(b, unicode.ToTitle(r))
		}
		i += size
	}
	return string(b)
}
