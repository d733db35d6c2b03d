package postgres

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"pillarbox/store"
)

// The exact check of a search's text keys against one message's decoded
// text: a case-folded (store.Fold) substring test, the SQLite store's
// textMatcher (store/sqlite/search_text.go) written again here so that
// this package changes nothing of that one. The full-text index only
// proposes candidates; this decides.

// searchKind says which text a text key reads.
type searchKind uint8

const (
	searchKindBody   searchKind = iota // BODY: the body text
	searchKindText                     // TEXT: the header or the body text
	searchKindHeader                   // HEADER: the value of a named field
)

// searchKey is one distinct text key of a search.
type searchKey struct {
	kind   searchKind
	field  string // searchKindHeader: the field's name (ASCII case ignored)
	needle string // folded; for searchKindHeader, "" matches any value
}

// searchFoldChunk is how much text the matcher folds at a time, so that
// its memory does not grow with the size of a message.
const searchFoldChunk = 32 << 10

// searchMatcher matches the text of one message at a time against every
// text key of a search. It is not safe for concurrent use.
type searchMatcher struct {
	keys             []searchKey
	needles          [][]byte // the keys' needles
	inBody, inHeader []int    // keys searched in the body, and in the whole header (TEXT)
	fields           []int    // HEADER keys
	buf              []byte
	want, scratch    []int
}

func newSearchMatcher(keys []searchKey) *searchMatcher {
	m := &searchMatcher{keys: keys}
	for i, k := range keys {
		m.needles = append(m.needles, []byte(k.needle))
		switch k.kind {
		case searchKindBody:
			m.inBody = append(m.inBody, i)
		case searchKindText:
			m.inBody = append(m.inBody, i)
			m.inHeader = append(m.inHeader, i)
		case searchKindHeader:
			m.fields = append(m.fields, i)
		}
	}
	return m
}

// match returns the set of keys (bit i for keys[i]) that a message with
// this header and body text contains.
func (m *searchMatcher) match(header, body string) uint64 {
	found := m.scan(body, m.inBody, 0)
	found = m.scan(header, m.inHeader, found)
	if len(m.fields) == 0 {
		return found
	}
	// The header text has one field per line: "Name: decoded value".
	for header != "" {
		var line string
		line, header, _ = strings.Cut(header, "\n")
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		keys := m.scratch[:0]
		for _, i := range m.fields {
			if found&(1<<i) != 0 || !strings.EqualFold(name, m.keys[i].field) {
				continue
			}
			if m.keys[i].needle == "" {
				found |= 1 << i
				continue
			}
			keys = append(keys, i)
		}
		m.scratch = keys
		found = m.scan(value, keys, found)
	}
	return found
}

// scan adds to found those of keys whose needles text contains, folding
// the text a chunk at a time and keeping the end of the previous chunk,
// so that a needle across the boundary is found too.
func (m *searchMatcher) scan(text string, keys []int, found uint64) uint64 {
	want := m.want[:0]
	longest := 0
	for _, i := range keys {
		if found&(1<<i) == 0 {
			want = append(want, i)
			longest = max(longest, len(m.keys[i].needle))
		}
	}
	m.want = want
	buf := m.buf[:0]
	for len(want) > 0 && text != "" {
		n := min(len(text), searchFoldChunk)
		// Cut at the start of a character, so that the chunks fold as the
		// whole text would.
		for extra := 0; n < len(text) && extra < utf8.UTFMax-1 && !utf8.RuneStart(text[n]); extra++ {
			n++
		}
		buf = store.AppendFold(buf, text[:n])
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

// searchRawText is the search text without a decoder (SetSearchText not
// called): the header block, up to the first empty line, and the rest, as
// stored; the SQLite store's rawSearchText.
func searchRawText(data []byte, withBody bool) (header, body string) {
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
		return string(data[:end]), ""
	}
	return string(data[:end]), string(data[next:])
}
