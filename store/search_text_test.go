package store

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// bruteHeader is the HEADER key's meaning: some field named field has a
// value containing needle, ignoring case.
func bruteHeader(header, field, needle string) bool {
	for line := range strings.SplitSeq(header, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), field) && strings.Contains(Fold(value), Fold(needle)) {
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
		for b.Len() < 3*foldChunk+r.IntN(foldChunk) {
			b.WriteString(textPieces[r.IntN(len(textPieces))])
		}
		body := b.String()
		if round%5 == 0 {
			body += "\x80\x80\x80\x80\xe2\x82" // invalid UTF-8 at the end
		}
		header := "Subject: " + randomText(r, 5) + "\nFrom: " + randomText(r, 3) + "\n"
		var keys []textKey
		for range MaxSearchTextKeys {
			at := (1+r.IntN(3))*foldChunk - 8 + r.IntN(16)
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
				keys = append(keys, textKey{kind: keyText, needle: Fold(needle)})
			case 1:
				field := []string{"subject", "FROM", "To"}[r.IntN(3)]
				if r.IntN(2) == 0 {
					needle = header[r.IntN(len(header)/2):][:r.IntN(6)]
				}
				keys = append(keys, textKey{kind: keyHeader, field: field, needle: Fold(needle)})
			default:
				keys = append(keys, textKey{kind: keyBody, needle: Fold(needle)})
			}
		}
		m := newTextMatcher(keys)
		got := m.match(header, body)
		folded := map[string]string{"header": Fold(header), "body": Fold(body)}
		for i, k := range keys {
			var want bool
			switch k.kind {
			case keyBody:
				want = strings.Contains(folded["body"], k.needle)
			case keyText:
				want = strings.Contains(folded["body"], k.needle) || strings.Contains(folded["header"], k.needle)
			case keyHeader:
				want = bruteHeader(header, k.field, k.needle)
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
		headers[i] = "Subject: " + randomText(r, 5) + "\nFrom: " + randomText(r, 4) + "\nX-Empty:\n"
		bodies[i] = randomText(r, 5)
	}
	db, mb := searchDB(t, headers, bodies)
	for k := range 150 {
		field := []string{"Subject", "from", "X-EMPTY", "To"}[r.IntN(4)]
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
		got := search(t, db, mb, &SearchCriteria{Header: []HeaderCriterion{{Field: field, Value: needle}}}, k%2 == 0)
		if !slices.Equal(got, want) {
			t.Errorf("HEADER %s %q (fts %q): got %v, want %v", field, needle, ftsQuery(needle), got, want)
		}
	}
}
