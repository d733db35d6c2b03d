package sqlite

import (
	"math/rand/v2"
	"pillarbox/store"
	"slices"
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
// variants, match exactly as a case-folded substring test says.
func TestTextMatcherAcrossChunks(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 20 {
		var b strings.Builder
		for b.Len() < 3*store.FoldChunk+r.IntN(store.FoldChunk) {
			b.WriteString(textPieces[r.IntN(len(textPieces))])
		}
		body := b.String()
		if round%5 == 0 {
			body += "\x80\x80\x80\x80\xe2\x82" // invalid UTF-8 at the end
		}
		header := "Subject: " + randomText(r, 5) + "\nFrom: " + randomText(r, 3) + "\n"
		var keys []store.TextKey
		for range store.MaxSearchTextKeys {
			at := (1+r.IntN(3))*store.FoldChunk - 8 + r.IntN(16)
			if r.IntN(4) == 0 {
				at = r.IntN(len(body))
			}
			needle := body[min(at, len(body)-1):min(at+1+r.IntN(24), len(body))]
			if r.IntN(6) == 0 {
				needle = randomText(r, 1+r.IntN(3))
			}
			needle = varyCase(r, needle)
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
		got := m.Match(header, body)
		folded := map[string]string{"header": store.Fold(header), "body": store.Fold(body)}
		for i, k := range keys {
			var want bool
			switch k.Kind {
			case store.KeyBody:
				want = strings.Contains(folded["body"], k.Needle)
			case store.KeyText:
				want = strings.Contains(folded["body"], k.Needle) || strings.Contains(folded["header"], k.Needle)
			case store.KeyHeader:
				want = bruteHeader(header, k.Field, k.Needle)
			}
			if got&(1<<i) != 0 != want {
				t.Errorf("round %d: key %+v: got %v, want %v", round, k, !want, want)
			}
		}
	}
}

// TestSearchHeaderMatchesBruteForce checks HEADER keys through Search,
// with the full-text index as their prefilter, against bruteHeader.
func TestSearchHeaderMatchesBruteForce(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	const n = 40
	headers, bodies := make([]string, n), make([]string, n)
	for i := range n {
		headers[i] = "Subject: " + randomText(r, 5) + "\nReply-To: " + randomText(r, 4) + "\nX-Empty:\n"
		bodies[i] = randomText(r, 5)
	}
	db, mb := searchDB(t, headers, bodies)
	for k := range 150 {
		// (From, To, Cc and Bcc with a value match the parsed addresses,
		// not the header text: TestSearchAddresses* check those.)
		field := []string{"Subject", "reply-TO", "X-EMPTY", "Keywords"}[r.IntN(4)]
		src := headers[r.IntN(n)]
		runes := []rune(src)
		a := r.IntN(len(runes))
		needle := varyCase(r, string(runes[a:min(len(runes), a+1+r.IntN(14))]))
		if k%10 == 0 {
			needle = ""
		}
		var want []uint32
		for i, h := range headers {
			if bruteHeader(h, field, needle) {
				want = append(want, uint32(i+1))
			}
		}
		got := search(t, db, mb, &store.SearchCriteria{Header: []store.HeaderCriterion{{Field: field, Value: needle}}}, k%2 == 0)
		if !slices.Equal(got, want) {
			t.Errorf("HEADER %s %q (fts %q): got %v, want %v", field, needle, ftsQueryText(needle), got, want)
		}
	}
}

// TestSearchRandomCriteriaMatchBruteForce runs random criteria that mix
// text keys (few, so SQLite's LIKE filters them, and many, so Go matches
// them all) with other keys under NOT and OR, and compares Search's
// answers with evaluating the criteria message by message.
func TestSearchRandomCriteriaMatchBruteForce(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(8, 9))
	const n = 30
	headers, bodies := make([]string, n), make([]string, n)
	for i := range n {
		headers[i] = "Subject: " + randomText(r, 4) + "\nFrom: " + randomText(r, 2) + "\n"
		bodies[i] = randomText(r, 12)
	}
	froms := make([][]store.EnvelopeAddress, n)
	for i := range n {
		froms[i] = randomAddresses(r)
	}
	db, mb := searchDBWith(t, headers, bodies, froms)
	if err := db.write(t.Context(), func(tx *Tx) error {
		_, err := tx.SetFlags(mb, []store.UIDRange{{Start: 1, Stop: 10}, {Start: 20, Stop: 25}}, store.FlagsAdd, store.FlagSeen, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	seen := func(uid int) bool { return uid <= 10 || 20 <= uid && uid <= 25 }
	needle := func() string {
		src := []string{headers[r.IntN(n)], bodies[r.IntN(n)]}[r.IntN(2)]
		runes := []rune(src)
		a := r.IntN(len(runes))
		return varyCase(r, string(runes[a:min(len(runes), a+1+r.IntN(6))]))
	}
	type node struct {
		c    store.SearchCriteria
		eval func(i int) bool // message i (UID i+1)
	}
	var gen func(depth int) node
	gen = func(depth int) node {
		switch k := r.IntN(10); {
		case k == 8:
			text := store.AddressText(froms[r.IntN(n)])
			runes := []rune(text)
			s := ""
			if len(runes) > 0 {
				a := r.IntN(len(runes))
				s = varyCase(r, string(runes[a:min(len(runes), a+1+r.IntN(8))]))
			}
			if s == "" {
				s = "x"
			}
			return node{store.SearchCriteria{Header: []store.HeaderCriterion{{Field: "FROM", Value: s}}}, func(i int) bool {
				return strings.Contains(store.AddressText(froms[i]), store.Fold(s))
			}}
		case k == 0:
			s := needle()
			return node{store.SearchCriteria{Body: []string{s}}, func(i int) bool { return strings.Contains(store.Fold(bodies[i]), store.Fold(s)) }}
		case k == 1:
			s := needle()
			return node{store.SearchCriteria{Text: []string{s}}, func(i int) bool {
				return strings.Contains(store.Fold(bodies[i]), store.Fold(s)) || strings.Contains(store.Fold(headers[i]), store.Fold(s))
			}}
		case k == 2:
			s := needle()
			return node{store.SearchCriteria{Header: []store.HeaderCriterion{{Field: "subject", Value: s}}}, func(i int) bool { return bruteHeader(headers[i], "Subject", s) }}
		case k == 3:
			lo := uint32(1 + r.IntN(n))
			hi := lo + uint32(r.IntN(10))
			return node{store.SearchCriteria{UIDs: [][]store.UIDRange{{{Start: lo, Stop: hi}}}}, func(i int) bool { return lo <= uint32(i+1) && uint32(i+1) <= hi }}
		case k == 4:
			return node{store.SearchCriteria{Flags: store.FlagSeen}, func(i int) bool { return seen(i + 1) }}
		case k == 5 || depth == 0:
			return node{store.SearchCriteria{NotFlags: store.FlagSeen}, func(i int) bool { return !seen(i + 1) }}
		case k == 6:
			a := gen(depth - 1)
			return node{store.SearchCriteria{Not: []store.SearchCriteria{a.c}}, func(i int) bool { return !a.eval(i) }}
		case k == 7:
			a, b := gen(depth-1), gen(depth-1)
			return node{store.SearchCriteria{Or: [][2]store.SearchCriteria{{a.c, b.c}}}, func(i int) bool { return a.eval(i) || b.eval(i) }}
		default: // AND: b's keys added to a's
			a, b := gen(depth-1), gen(depth-1)
			c := a.c
			c.Body = append(slices.Clone(c.Body), b.c.Body...)
			c.Text = append(slices.Clone(c.Text), b.c.Text...)
			c.Header = append(slices.Clone(c.Header), b.c.Header...)
			c.UIDs = append(slices.Clone(c.UIDs), b.c.UIDs...)
			c.Flags |= b.c.Flags
			c.NotFlags |= b.c.NotFlags
			c.Not = append(slices.Clone(c.Not), b.c.Not...)
			c.Or = append(slices.Clone(c.Or), b.c.Or...)
			return node{c, func(i int) bool { return a.eval(i) && b.eval(i) }}
		}
	}
	for k := range 150 {
		nd := gen(2 + r.IntN(4))
		var want []uint32
		for i := range n {
			if nd.eval(i) {
				want = append(want, uint32(i+1))
			}
		}
		if got := search(t, db, mb, &nd.c, k%2 == 0); !slices.Equal(got, want) {
			t.Errorf("%+v (%d text keys): got %v, want %v", nd.c, nd.c.Size().TextKeys, got, want)
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
