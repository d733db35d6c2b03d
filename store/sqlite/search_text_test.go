package sqlite

import (
	"math/rand/v2"
	"pillarbox/store"
	"pillarbox/store/storesuite"
	"strings"
	"testing"
	"unicode/utf8"
)

// bruteHeader is the HEADER key's meaning: some field named field has a
// value containing needle, ignoring case.
func bruteHeader(header, field, needle string) bool {
	for line := range strings.SplitSeq(header, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), field) && strings.Contains(store.Fold(value), store.Fold(needle)) {
			return true
		}
	}
	return false
}

// TestTextMatcherAcrossChunks: texts several chunks long, with needles
// cut around the chunk boundaries, multi-byte characters and case
// variants, match exactly as a case-folded substring test says: BODY in
// the body, TEXT in the body, header and part headers, HEADER in the
// named field of the header alone.
func TestTextMatcherAcrossChunks(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 20 {
		var b strings.Builder
		for b.Len() < 3*store.FoldChunk+r.IntN(store.FoldChunk) {
			b.WriteString(storesuite.RandomText(r, 1))
		}
		body := b.String()
		if round%5 == 0 {
			body += "\x80\x80\x80\x80\xe2\x82" // invalid UTF-8 at the end
		}
		header := "Subject: " + storesuite.RandomText(r, 5) + "\nFrom: " + storesuite.RandomText(r, 3) + "\n"
		parts := "Content-Type: text/plain\nSubject: " + storesuite.RandomText(r, 4) + "\n"
		var keys []store.TextKey
		for range store.MaxSearchTextKeys {
			at := (1+r.IntN(3))*store.FoldChunk - 8 + r.IntN(16)
			if r.IntN(4) == 0 {
				at = r.IntN(len(body))
			}
			needle := body[min(at, len(body)-1):min(at+1+r.IntN(24), len(body))]
			switch r.IntN(6) {
			case 0:
				needle = storesuite.RandomText(r, 1+r.IntN(3))
			case 1:
				needle = parts[r.IntN(len(parts)/2):][:1+r.IntN(8)]
			}
			needle = storesuite.VaryCase(r, needle)
			switch r.IntN(4) {
			case 0:
				keys = append(keys, store.TextKey{Kind: store.KeyText, Needle: store.Fold(needle)})
			case 1:
				field := []string{"subject", "FROM", "To"}[r.IntN(3)]
				if r.IntN(2) == 0 {
					needle = header[r.IntN(len(header)/2):][:r.IntN(6)]
				}
				keys = append(keys, store.TextKey{Kind: store.KeyHeader, Field: field, Needle: store.Fold(needle)})
			default:
				keys = append(keys, store.TextKey{Kind: store.KeyBody, Needle: store.Fold(needle)})
			}
		}
		m := store.NewTextMatcher(keys)
		got := m.Match(store.MessageText{Header: header, Body: body, Parts: parts})
		folded := map[string]string{"header": store.Fold(header), "body": store.Fold(body), "parts": store.Fold(parts)}
		for i, k := range keys {
			var want bool
			switch k.Kind {
			case store.KeyBody:
				want = strings.Contains(folded["body"], k.Needle)
			case store.KeyText:
				want = strings.Contains(folded["body"], k.Needle) || strings.Contains(folded["header"], k.Needle) ||
					strings.Contains(folded["parts"], k.Needle)
			case store.KeyHeader:
				want = bruteHeader(header, k.Field, k.Needle)
			}
			if got&(1<<i) != 0 != want {
				t.Errorf("round %d: key %+v: got %v, want %v", round, k, !want, want)
			}
		}
	}
}

// TestAppendFoldASCII checks the eight-bytes-at-a-time path against
// folding one character at a time, on every ASCII byte at every offset.
func TestAppendFoldASCII(t *testing.T) {
	var all []byte
	for c := range 128 {
		all = append(all, byte(c))
	}
	for _, s := range []string{string(all), "Hello, World! The quick brown fox jumps over the lazy dog @[`{~",
		"mixed ascii é and ſ long s, Kelvin \u212a, ß ǅ, then ascii again 0123456789abcdefghijklmnopqrstuvwxyz"} {
		for off := range 9 {
			in := s[min(off, len(s)):]
			var want []byte
			for _, r := range in {
				want = utf8.AppendRune(want, store.FoldRune(r))
			}
			if got := store.AppendFold(nil, in); string(got) != string(want) {
				t.Errorf("AppendFold(%q) = %q, want %q", in, got, want)
			}
		}
	}
}

func BenchmarkAppendFold(b *testing.B) {
	text := strings.Repeat("The numbers for week 12 are in; Meeting invoice REPORT. ", 200)
	b.SetBytes(int64(len(text)))
	var buf []byte
	for b.Loop() {
		buf = store.AppendFold(buf[:0], text)
	}
}
