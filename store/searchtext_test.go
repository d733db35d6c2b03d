package store

import (
	"fmt"
	"strings"
	"testing"
)

// benchText is about 8 KB of prose, the size of an average message in
// imaptest's stress mailbox: a few hundred distinct words, most of them
// repeated, some capitalised.
func benchText() string {
	var b strings.Builder
	for i := 0; b.Len() < 8<<10; i++ {
		switch {
		case i%17 == 0:
			fmt.Fprintf(&b, "Meeting%d, ", i%300)
		case i%5 == 0:
			fmt.Fprintf(&b, "word%d ", i%300)
		default:
			fmt.Fprintf(&b, "the%d. ", i%40)
		}
	}
	return b.String()
}

func BenchmarkIndexTerms(b *testing.B) {
	text := benchText()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		IndexTerms(text)
	}
}

// TestIndexTermsFoldsASCIICase checks the terms of a text whose pieces
// come in both cases, first one way and then the other: each is kept
// once, as first spelled.
func TestIndexTermsFoldsASCIICase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"abc ABC Abc abc", "abc"},
		{"ABC abc", "ABC"},
		{"Über über ÜBER uber UBER", "Über über uber"}, // Ü is not ASCII: ÜBER is Über
		{"x1 X1 x2\tX2\r\nx3", "x1 x2 x3"},
	} {
		if got := IndexTerms(tc.in); got != tc.want {
			t.Errorf("IndexTerms(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if text := benchText(); IndexTerms(text) != plainTerms(text) {
		t.Errorf("IndexTerms of the bench text:\n%s\nwant\n%s", IndexTerms(text), plainTerms(text))
	}
}

// plainTerms is IndexTerms' rule spelled out plainly: the pieces between
// ASCII characters other than letters and digits, each kept the first
// time it appears without regard to the case of ASCII letters.
func plainTerms(text string) string {
	var out []string
	seen := make(map[string]bool)
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return r < 0x80 && IsIndexSeparator(byte(r)) }) {
		b := []byte(w) // byte by byte: two invalid octets are not one rune
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		if k := string(b); !seen[k] {
			seen[k] = true
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}

// FuzzIndexTerms checks IndexTerms against plainTerms. The index's words
// must never change for a given text: a removal deletes from FTS4 the
// terms IndexTerms gives again.
func FuzzIndexTerms(f *testing.F) {
	for _, s := range []string{"", "the cat and THE dog", "a@B.c\nA@b.C", "Straße STRAẞE", "\xff\xfeAB ab", "x1\tX1", "\xd9 \xd1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := IndexTerms(text), plainTerms(text); got != want {
			t.Errorf("IndexTerms(%q) = %q, want %q", text, got, want)
		}
	})
}
