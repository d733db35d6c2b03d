package store

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// TextKind says which text a text key reads.
type TextKind uint8

const (
	KeyBody   TextKind = iota // BODY: the body text
	KeyText                   // TEXT: the header, the part headers or the body text
	KeyHeader                 // HEADER: the value of a named header field
)

// TextKey is one distinct text key of a search.
type TextKey struct {
	Kind   TextKind
	Field  string // KeyHeader: the field's name (ASCII case is ignored)
	Needle string // folded (Fold); for KeyHeader, "" matches any value
}

// FoldChunk is how much text TextMatcher folds at a time: its memory does
// not grow with the size of a message.
const FoldChunk = 32 << 10

// TextMatcher matches the text of one message at a time against every
// text key of a search. It is not safe for concurrent use.
type TextMatcher struct {
	keys               []TextKey
	needles            [][]byte // the keys' needles
	inBody, inHeader   []int    // keys searched in the body, and in the whole header and the part headers (TEXT)
	fields             []int    // HEADER keys
	buf                []byte
	want, fieldScratch []int
}

// NewTextMatcher returns a matcher of keys, at most 64 of them (Match
// answers with one bit a key).
func NewTextMatcher(keys []TextKey) *TextMatcher {
	m := &TextMatcher{keys: keys}
	for i, k := range keys {
		m.needles = append(m.needles, []byte(k.Needle))
		switch k.Kind {
		case KeyBody:
			m.inBody = append(m.inBody, i)
		case KeyText:
			m.inBody = append(m.inBody, i)
			m.inHeader = append(m.inHeader, i)
		case KeyHeader:
			m.fields = append(m.fields, i)
		}
	}
	return m
}

// Match returns the set of keys (bit i for keys[i]) that a message with
// this search text contains.
func (m *TextMatcher) Match(t MessageText) uint64 {
	var found uint64
	found = m.scan(t.Body, m.inBody, found)
	found = m.scan(t.Header, m.inHeader, found)
	found = m.scan(t.Parts, m.inHeader, found)
	if len(m.fields) > 0 {
		found = m.headerFields(t.Header, found)
	}
	return found
}

// headerFields matches the HEADER keys: the header text has one field per
// line, "Name: decoded value".
func (m *TextMatcher) headerFields(header string, found uint64) uint64 {
	for header != "" {
		var line string
		line, header, _ = strings.Cut(header, "\n")
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		keys := m.fieldScratch[:0]
		for _, i := range m.fields {
			if found&(1<<i) != 0 || !strings.EqualFold(name, m.keys[i].Field) {
				continue
			}
			if m.keys[i].Needle == "" {
				found |= 1 << i
				continue
			}
			keys = append(keys, i)
		}
		m.fieldScratch = keys
		found = m.scan(value, keys, found)
	}
	return found
}

// scan adds to found those of keys (indexes into m.keys) whose needles
// text contains, ignoring case as Fold does. It folds the text a chunk at
// a time, keeping the end of the previous chunk so that a needle across
// the boundary is found too.
func (m *TextMatcher) scan(text string, keys []int, found uint64) uint64 {
	want := m.want[:0]
	longest := 0
	for _, i := range keys {
		if found&(1<<i) == 0 {
			want = append(want, i)
			longest = max(longest, len(m.keys[i].Needle))
		}
	}
	m.want = want
	buf := m.buf[:0]
	for len(want) > 0 && text != "" {
		n := min(len(text), FoldChunk)
		// Cut before the start of a character, so that the chunks fold as
		// the whole text would (a character has at most 3 more bytes).
		for extra := 0; n < len(text) && extra < utf8.UTFMax-1 && !utf8.RuneStart(text[n]); extra++ {
			n++
		}
		buf = AppendFold(buf, text[:n])
		text = text[n:]
		for j := 0; j < len(want); {
			if i := want[j]; bytes.Contains(buf, m.needles[i]) {
				found |= 1 << i
				want[j] = want[len(want)-1]
				want = want[:len(want)-1]
				continue
			}
			j++
		}
		if keep := longest - 1; len(buf) > keep {
			buf = buf[:copy(buf, buf[len(buf)-keep:])]
		}
	}
	m.buf = buf[:0]
	return found
}

// RawSearchText is the search text of a store without a decoder
// (Store.SetSearchText not called): the header block
// (up to the first empty line) and the rest, as stored; no part headers.
func RawSearchText(data []byte, withBody bool) MessageText {
	end, next := len(data), len(data)
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			break
		}
		line := data[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			end, next = i, i+j+1
			break
		}
		i += j + 1
	}
	if !withBody {
		return MessageText{Header: string(data[:end])}
	}
	return MessageText{Header: string(data[:end]), Body: string(data[next:])}
}
