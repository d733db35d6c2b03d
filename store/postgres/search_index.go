package postgres

import (
	"unicode"

	"pillarbox/store"
)

// What the full-text index can prove. blob_text holds, for each indexed
// blob, to_tsvector('simple', ...) of the index terms (store.IndexTerms)
// of its header and of its body: the pieces of the text between ASCII
// characters other than letters and digits, each once, which PostgreSQL's
// parser then cuts into tokens and lower-cases. A search string is
// matched as a case-folded substring (store.Fold), which may start or end
// inside a piece, and Fold and PostgreSQL's lower() differ outside ASCII.
// So a run of letters and digits of the search string (between the
// separators of IndexTerms) narrows the candidates only where the index
// cannot miss a message that contains the string:
//
//   - the first run has no separator before it: it may be the end of a
//     longer piece ("voice" in "invoice"), which no lexeme query finds
//     (SQLite looks such runs up in its table of pieces; PostgreSQL has
//     none). It never narrows; a string without separators is one such
//     run, and its search reads every message the other keys leave.
//   - a run with separators on both sides is a whole piece of every text
//     that contains the string. If each of its characters is ASCII and
//     folds only to ASCII (not k or s: the Kelvin sign and the long s
//     fold with them), that piece is the same ASCII string but for case,
//     which PostgreSQL's parser cuts into the same tokens as the run
//     alone ("1e5abc" is "1e5" and "abc"; its parser is blind to ASCII
//     case) and lower-cases alike: plainto_tsquery of the run asks for
//     them all.
//   - the last run, with a separator before it but not after, starts a
//     piece. If it is ASCII letters only (and no k or s), the piece's
//     first token starts with it: a prefix query (run:*) finds it.
//     Tokens that start with a digit are not used so: the parser reads
//     "1e5" as a number and "1e5a" as "1e5" and "a".
//
// PostgreSQL leaves out of a tsvector any token of 2047 bytes or more,
// so a run that long never narrows, and a piece that long is not
// indexed: a prefix run could miss a message whose piece starting with
// it is that long (long runs of CJK text). Blobs whose terms hold the
// lexeme searchLongMark are candidates for every query, so that
// InsertBlob can mark those (a lexeme IndexTerms can never give: it
// holds an ASCII separator).
//
// A blob without a blob_text row (not indexed: see IndexBacklog) is a
// candidate for every text key.

// searchMaxLexeme is PostgreSQL's limit on a token's length in a
// tsvector (MAXSTRLEN): longer ones are left out with a NOTICE.
const searchMaxLexeme = 2047

// searchLongMark is the lexeme of a blob with a piece too long for the
// index (see above).
const searchLongMark = "!long"

// searchASCIIOnly[c] is true for the ASCII letters and digits whose case
// folding orbit holds only ASCII characters.
var searchASCIIOnly = func() (t [128]bool) {
	for c := range rune(128) {
		if store.IsIndexSeparator(byte(c)) {
			continue
		}
		t[c] = true
		for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
			if f >= 128 {
				t[c] = false
			}
		}
	}
	return t
}()

// searchRuns returns the runs of s that narrow the candidates: whole
// pieces, and the prefix of a piece that s ends with ("" if none).
func searchRuns(s string) (whole []string, prefix string) {
	start := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && !store.IsIndexSeparator(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start < 0 {
			continue
		}
		run := s[start:i]
		first := start == 0
		start = -1
		if first || len(run) >= searchMaxLexeme || !searchUsableRun(run, i == len(s)) {
			continue
		}
		if i == len(s) {
			prefix = run
		} else {
			whole = append(whole, run)
		}
	}
	return whole, prefix
}

// searchUsableRun reports whether every character of run folds only to
// ASCII (and, for a prefix, is a letter).
func searchUsableRun(run string, asPrefix bool) bool {
	for i := 0; i < len(run); i++ {
		c := run[i]
		if c >= 128 || !searchASCIIOnly[c] || asPrefix && '0' <= c && c <= '9' {
			return false
		}
	}
	return true
}

// indexCondition writes the superset condition of a text key whose
// search string is s: true for every message whose blob may contain s.
func (b *searchSQL) indexCondition(s string) string {
	whole, prefix := searchRuns(s)
	var q string
	for _, w := range whole {
		if q != "" {
			q += " && "
		}
		q += "plainto_tsquery('simple', " + b.arg(w) + ")"
	}
	if prefix != "" {
		if q != "" {
			q += " && "
		}
		q += "to_tsquery('simple', " + b.arg(prefix+":*") + ")"
	}
	if q == "" {
		return "true"
	}
	q = "((" + q + ") || " + b.arg("'"+searchLongMark+"'") + "::tsquery)"
	return "(m.blob_id IN (SELECT t.blob_id FROM blob_text t WHERE t.terms @@ " + q + ")" +
		" OR NOT EXISTS (SELECT 1 FROM blob_text t WHERE t.blob_id = m.blob_id))"
}
