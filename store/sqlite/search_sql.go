package sqlite

import (
	"fmt"
	"pillarbox/store"
	"slices"
	"strconv"
	"strings"
	"time"
)

// searchMode says what sqlBuilder.expr writes for criteria.
type searchMode int

const (
	// exact: the criteria, reading text keys from Search's first pass.
	exact searchMode = iota
	// superset: true for every message that matches, and maybe others,
	// without reading any text (the first pass's candidates).
	superset
	// subset: true only for messages that match, without reading any text
	// (what superset writes under NOT).
	subset
	// absent: the criteria for a message that contains none of the text
	// keys (whose first pass found nothing).
	absent
)

// inverse is the mode for the operand of NOT.
func (m searchMode) inverse() searchMode {
	switch m {
	case superset:
		return subset
	case subset:
		return superset
	}
	return m
}

// sqlBuilder turns SearchCriteria into SQL expressions over messages m.
type sqlBuilder struct {
	token int64        // the search's token, for the SQL functions
	st    *searchState // the search's state, for UID sets too large to inline
	args  []any

	// The distinct text keys of the criteria, each with its bit in the
	// first pass's results, and which texts they read.
	keys                 []store.TextKey
	bits                 map[store.TextKey]int
	needHeader, needBody bool

	pieces  pieceLookup          // for the full-text queries of superset
	queries map[ftsKey]ftsResult // ftsQuery's answers
	// uids, when not nil, collects the messages the first pass reads
	// (Search's answer for criteria of text keys alone).
	uids []uidBlob
}

type ftsKey struct {
	kind store.TextKind
	s    string
}

type ftsResult struct {
	q    string
	none bool
}

func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "?"
}

func (b *sqlBuilder) addKey(k store.TextKey) {
	if b.bits == nil {
		b.bits = make(map[store.TextKey]int)
	}
	if _, ok := b.bits[k]; ok {
		return
	}
	b.bits[k] = len(b.keys)
	b.keys = append(b.keys, k)
	b.needHeader = b.needHeader || k.Kind != store.KeyBody
	b.needBody = b.needBody || k.Kind != store.KeyHeader
}

// expr writes c as mode says.
func (b *sqlBuilder) expr(c *store.SearchCriteria, mode searchMode) string {
	if c.Never {
		return "0"
	}
	var and []string
	for _, set := range c.UIDs {
		and = append(and, b.uidSet(set))
	}
	if !c.Since.IsZero() {
		and = append(and, "m.internal_date >= "+b.arg(dayStart(c.Since)))
	}
	if !c.Before.IsZero() {
		and = append(and, "m.internal_date < "+b.arg(dayStart(c.Before)))
	}
	if !c.SavedSince.IsZero() {
		and = append(and, "coalesce(m.saved, m.internal_date) >= "+b.arg(dayStart(c.SavedSince)))
	}
	if !c.SavedBefore.IsZero() {
		and = append(and, "coalesce(m.saved, m.internal_date) < "+b.arg(dayStart(c.SavedBefore)))
	}
	const sentDay = `coalesce((SELECT substr(json_extract(x.envelope, '$.d'), 1, 10) FROM blobs x WHERE x.id = m.blob_id), '')`
	if !c.SentSince.IsZero() {
		and = append(and, "("+sentDay+" >= "+b.arg(c.SentSince.Format(time.DateOnly))+")")
	}
	if !c.SentBefore.IsZero() {
		and = append(and, "("+sentDay+" != '' AND "+sentDay+" < "+b.arg(c.SentBefore.Format(time.DateOnly))+")")
	}
	for _, h := range c.Header {
		if col := store.AddressColumn(h); col != "" {
			// Known without the text, so the same in every mode.
			and = append(and, "(instr(coalesce((SELECT a."+col+" FROM blob_addresses a WHERE a.blob_id = m.blob_id), ''), "+
				b.arg(store.Fold(h.Value))+") > 0)")
			continue
		}
		and = append(and, b.text(store.HeaderTextKey(h), h.Value, mode))
	}
	for _, s := range c.Body {
		if s != "" {
			and = append(and, b.text(store.TextKey{Kind: store.KeyBody, Needle: store.Fold(s)}, s, mode))
		}
	}
	for _, s := range c.Text {
		if s != "" {
			and = append(and, b.text(store.TextKey{Kind: store.KeyText, Needle: store.Fold(s)}, s, mode))
		}
	}
	if c.Flags != 0 {
		and = append(and, fmt.Sprintf("(m.flags & %d = %d)", c.Flags, c.Flags))
	}
	if c.NotFlags != 0 {
		and = append(and, fmt.Sprintf("(m.flags & %d = 0)", c.NotFlags))
	}
	for _, k := range c.Keywords {
		and = append(and, "((' ' || m.keywords || ' ') LIKE "+b.arg("% "+likeEscape(k)+" %")+` ESCAPE '\')`)
	}
	for _, k := range c.NotKeywords {
		and = append(and, "((' ' || m.keywords || ' ') NOT LIKE "+b.arg("% "+likeEscape(k)+" %")+` ESCAPE '\')`)
	}
	if c.Larger > 0 {
		and = append(and, "m.size > "+b.arg(c.Larger))
	}
	if c.Smaller > 0 {
		and = append(and, "m.size < "+b.arg(c.Smaller))
	}
	// NOT turns a superset of its operand's matches into a subset of its
	// own, and the other way round (mode.inverse).
	for i := range c.Not {
		and = append(and, "(NOT "+b.expr(&c.Not[i], mode.inverse())+")")
	}
	for i := range c.Or {
		and = append(and, join([]string{b.expr(&c.Or[i][0], mode), b.expr(&c.Or[i][1], mode)}, "OR"))
	}
	if len(and) == 0 {
		return "1"
	}
	return join(and, "AND")
}

// afterText writes c for Search's second pass, after matchText. Only the
// messages that contain some text key (those in b.st.text) read
// matchText's results; for the others every text key is false, which
// SQLite can tell without calling Go. When that makes c false, only those
// messages can match: afterText then says so (byBlob), or returns "" if
// there are none.
func (b *sqlBuilder) afterText(c *store.SearchCriteria) (expr string, byBlob bool) {
	b.args = nil
	if len(b.st.text) == 0 {
		if withoutText(c) == isFalse {
			return "", false
		}
		return b.expr(c, absent), false
	}
	hits := []byte{'['}
	for blob := range b.st.text {
		if len(hits) > 1 {
			hits = append(hits, ',')
		}
		hits = strconv.AppendInt(hits, blob, 10)
	}
	hits = append(hits, ']')
	inHits := "m.blob_id IN (SELECT value FROM json_each(" + b.arg(string(hits)) + "))"
	if withoutText(c) == isFalse {
		return "(" + inHits + " AND " + b.expr(c, exact) + ")", true
	}
	return "(CASE WHEN " + inHits + " THEN " + b.expr(c, exact) + " ELSE " + b.expr(c, absent) + " END)", false
}

// truth is a three-valued truth: what criteria are when some keys are
// not known.
type truth int

const (
	unknown truth = iota
	isFalse
	isTrue
)

// withoutText says what c is for a message that contains none of its
// text keys, whatever the other keys say.
func withoutText(c *store.SearchCriteria) truth {
	readsText := func(h store.HeaderCriterion) bool { return store.AddressColumn(h) == "" }
	if c.Never || slices.ContainsFunc(c.Header, readsText) || slices.ContainsFunc(c.Body, nonEmpty) || slices.ContainsFunc(c.Text, nonEmpty) ||
		slices.ContainsFunc(c.UIDs, func(set []store.UIDRange) bool { return len(set) == 0 }) {
		return isFalse
	}
	all := isTrue // of the AND
	if len(c.UIDs) > 0 || len(c.Header) > 0 || !c.Since.IsZero() || !c.Before.IsZero() || !c.SentSince.IsZero() || !c.SentBefore.IsZero() ||
		!c.SavedSince.IsZero() || !c.SavedBefore.IsZero() ||
		c.Flags != 0 || c.NotFlags != 0 || len(c.Keywords) > 0 || len(c.NotKeywords) > 0 || c.Larger > 0 || c.Smaller > 0 {
		all = unknown
	}
	for i := range c.Not {
		switch withoutText(&c.Not[i]) {
		case isTrue:
			return isFalse
		case unknown:
			all = unknown
		}
	}
	for i := range c.Or {
		l, r := withoutText(&c.Or[i][0]), withoutText(&c.Or[i][1])
		switch {
		case l == isFalse && r == isFalse:
			return isFalse
		case l != isTrue && r != isTrue:
			all = unknown
		}
	}
	return all
}

func nonEmpty(s string) bool { return s != "" }

// join combines terms with op as a balanced tree, in parentheses, so that
// the expression's depth (which SQLite limits) grows with the logarithm
// of their number.
func join(terms []string, op string) string {
	if len(terms) == 1 {
		return "(" + terms[0] + ")"
	}
	h := len(terms) / 2
	return "(" + join(terms[:h], op) + " " + op + " " + join(terms[h:], op) + ")"
}

// text writes text key k, whose search string is s.
func (b *sqlBuilder) text(k store.TextKey, s string, mode searchMode) string {
	switch mode {
	case subset, absent:
		return "0"
	case superset:
		// The full-text index, where a query on it finds every match; text
		// not indexed yet is always a candidate.
		pending := "m.blob_id IN (SELECT blob_id FROM blob_text_pending)"
		// A string may come back in several keys: look its pieces up once.
		r, ok := b.queries[ftsKey{k.Kind, s}]
		if !ok {
			r.q, r.none = ftsQuery(s, k.Kind, b.pieces)
			if b.queries == nil {
				b.queries = make(map[ftsKey]ftsResult)
			}
			b.queries[ftsKey{k.Kind, s}] = r
		}
		q, none := r.q, r.none
		switch {
		case none:
			return "(" + pending + ")"
		case q == "":
			return "1"
		}
		return "(m.blob_id IN (SELECT docid FROM blob_text WHERE blob_text MATCH " + b.arg(q) + ") OR " + pending + ")"
	}
	// exact is only asked of the blobs the first pass found some key in
	// (afterText): if each of them has this one, as with a search of a
	// single string, the answer needs no call into Go per message.
	bit := uint64(1) << uint(b.bits[k])
	all := true
	for _, found := range b.st.text {
		if found&bit == 0 {
			all = false
			break
		}
	}
	if all {
		return "1"
	}
	return fmt.Sprintf("%s(%d, m.blob_id, %d)", fnText, b.token, b.bits[k])
}

// dayStart returns the Unix time of the start (UTC) of t's day.
func dayStart(t time.Time) int64 {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix()
}

// maxInlineRanges bounds the UID ranges written into the SQL text; larger
// sets go through pillarbox_inset.
const maxInlineRanges = 64

// uidSet writes "the UID is in set". The numbers are written as literals:
// they are integers, and SQLite's limit on parameters then only counts
// the strings.
func (b *sqlBuilder) uidSet(set []store.UIDRange) string {
	if len(set) == 0 {
		return "0"
	}
	if len(set) > maxInlineRanges {
		b.st.sets = append(b.st.sets, set)
		return fmt.Sprintf("%s(%d, %d, m.uid)", fnInSet, b.token, len(b.st.sets)-1)
	}
	var or []string
	for _, r := range set {
		if r.Start == r.Stop {
			or = append(or, "m.uid = "+strconv.FormatUint(uint64(r.Start), 10))
		} else {
			or = append(or, "m.uid BETWEEN "+strconv.FormatUint(uint64(r.Start), 10)+" AND "+strconv.FormatUint(uint64(r.Stop), 10))
		}
	}
	return join(or, "OR")
}

// ftsQuery returns an FTS4 query that matches every document containing s
// as a substring (ignoring case) in the text that kind reads, so that a
// substring search can use the index without missing anything: "" if
// there is none, and none set if no indexed document can contain s.
//
// The unicode61 tokenizer splits text at every ASCII character other than
// letters and digits. Within s, a run of other characters that has such a
// separator on both sides is a whole piece of every text that contains s,
// cut where IndexTerms cuts, so its tokens are in the index (as a phrase
// when the run holds several); a final run with a separator before it only
// starts a piece (a prefix query). The first run, without a separator
// before it, may end a longer piece, and a string without separators may
// lie anywhere inside one: pieces, if not nil, finds the indexed pieces
// that end with (or contain) such a run, any of which a match holds. The
// index keeps each piece once, not where it was, so the query asks for
// each run, not for a phrase across them; and it marks the header's pieces
// (indexJoin), so a run is asked for as a piece of the header, of the
// body, or of either.
func ftsQuery(s string, kind store.TextKind, pieces pieceLookup) (q string, none bool) {
	type run struct{ start, end int }
	var runs []run
	start := -1
	for i := 0; i < len(s); i++ {
		if store.IsIndexSeparator(s[i]) {
			if start >= 0 {
				runs = append(runs, run{start, i})
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		runs = append(runs, run{start, len(s)})
	}
	// forms appends the phrases for piece p (lower-cased; with "*" after
	// it, a prefix) in the texts kind reads.
	forms := func(or []string, p, star string) []string {
		if kind != store.KeyBody {
			or = append(or, `"`+headerMark+p+star+`"`)
		}
		if kind != store.KeyHeader {
			or = append(or, `"`+p+star+`"`)
		}
		return or
	}
	var terms []string
	for _, r := range runs {
		w := s[r.start:r.end]
		if !hasASCIIAlnum(strings.ToLower(w)) {
			// Only non-ASCII characters: the tokenizer might see no token
			// at all here, which would make the query match nothing.
			continue
		}
		var or []string
		switch {
		case r.start == 0:
			if pieces == nil {
				continue
			}
			found, ok := pieces(store.Fold(w), r.end < len(s))
			if !ok {
				continue
			}
			if len(found) == 0 {
				return "", true // no indexed piece has the run
			}
			for _, p := range found {
				or = forms(or, p, "")
			}
		case r.end == len(s):
			or = forms(or, strings.ToLower(w), "*")
		default:
			or = forms(or, strings.ToLower(w), "")
		}
		if len(or) == 1 {
			terms = append(terms, or[0])
		} else {
			terms = append(terms, "("+strings.Join(or, " OR ")+")")
		}
	}
	return strings.Join(terms, " "), false
}

func hasASCIIAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; '0' <= c && c <= '9' || 'a' <= c && c <= 'z' {
			return true
		}
	}
	return false
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// inRanges reports whether uid is in the sorted ranges.
func inRanges(set []store.UIDRange, uid uint32) bool {
	lo, hi := 0, len(set)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case uid < set[m].Start:
			hi = m
		case uid > set[m].Stop:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}
