package store

import (
	"strings"
	"unicode/utf8"
)

// SearchTextFunc returns the search text of a stored message: its decoded
// header and, when withBody is set, its body text and the header fields
// of its parts. It must be deterministic, and give for a blob exactly the
// Blob.HeaderText, BodyText and PartText it was stored with: removing a
// blob takes the words of this text out of the full-text index.
type SearchTextFunc func(data []byte, withBody bool) MessageText

// MessageText is the search text of a message, in three parts that the
// text keys read differently: HEADER reads Header, BODY reads Body, and
// TEXT reads all three (RFC 9051's "header (including MIME header
// fields) or body").
type MessageText struct {
	// Header holds the fields of the message's header, one per line:
	// "Name: decoded value".
	Header string
	// Body is the decoded text of the message's body.
	Body string
	// Parts holds the header fields of the MIME parts below the top
	// level (and of enclosed messages), one per line like Header.
	Parts string
}

// Terms returns the index terms (IndexTerms) of the text's header side,
// which the part headers share with the message's own, and of its body.
func (t MessageText) Terms() (header, body string) {
	h := t.Header
	if t.Parts != "" {
		// A separator between them: the last piece of one does not run
		// into the first of the other. (With no part text, the header
		// side is the header's terms alone.)
		h += "\n" + t.Parts
	}
	return IndexTerms(h), IndexTerms(t.Body)
}

// IndexTerms returns the index terms of a text: its distinct pieces, once
// each, in the order they first appear, separated by spaces. Text is cut only at ASCII characters other than letters and
// digits, where the unicode61 tokenizer always separates tokens, so the
// pieces are tokenized as they are in the whole text: the index holds the
// same tokens, with positions that no longer say where they were (ftsQuery
// asks for each token, not for a phrase). Pieces that differ only in the
// case of ASCII letters give the same tokens and are kept once.
func IndexTerms(text string) string {
	seen := make(map[string]struct{}, 256)
	var b strings.Builder
	b.Grow(len(text) / 4)
	var key []byte
	for i := 0; i < len(text); {
		for i < len(text) && IsIndexSeparator(text[i]) {
			i++
		}
		j, upper := i, false
		for ; j < len(text) && !IsIndexSeparator(text[j]); j++ {
			upper = upper || 'A' <= text[j] && text[j] <= 'Z'
		}
		if j == i {
			break
		}
		w := text[i:j]
		i = j
		// Most pieces are in lower case already: they are their own key,
		// and a piece of text costs no copy.
		k := w
		if upper {
			key = append(key[:0], w...)
			for n, c := range key {
				if 'A' <= c && c <= 'Z' {
					key[n] = c + 'a' - 'A'
				}
			}
			if _, dup := seen[string(key)]; dup {
				continue
			}
			k = string(key)
		} else if _, dup := seen[w]; dup {
			continue
		}
		seen[k] = struct{}{}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	return b.String()
}

// IsIndexSeparator reports whether c, an ASCII byte, separates the
// words of a text for the full-text index (IndexTerms): anything but an
// ASCII letter or digit. Bytes of UTF-8 sequences are never separators.
func IsIndexSeparator(c byte) bool {
	return c < utf8.RuneSelf && !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z')
}
