package postgres

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"pillarbox/store"
)

// searchMode says what searchSQL.expr writes for criteria.
type searchMode int

const (
	// searchExact: the criteria, reading the text keys' results of
	// Search's first pass (searchSQL.hits).
	searchExact searchMode = iota
	// searchSuperset: true for every message that matches, and maybe
	// others, without reading any text: the first pass's candidates.
	searchSuperset
	// searchSubset: true only for messages that match, without reading
	// any text (what searchSuperset writes under NOT).
	searchSubset
)

func (m searchMode) inverse() searchMode {
	switch m {
	case searchSuperset:
		return searchSubset
	case searchSubset:
		return searchSuperset
	}
	return m
}

// searchSQL turns SearchCriteria into SQL expressions over messages m,
// whose parameters it collects ($1 is the mailbox, added by the caller).
type searchSQL struct {
	args     []any
	keys     []store.TextKey
	bits     map[store.TextKey]int
	needBody bool
	hits     [][]int64         // per key: the blobs containing it (first pass)
	tsq      map[string]string // search string → its index condition
}

func (b *searchSQL) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *searchSQL) addKey(k store.TextKey) {
	if b.bits == nil {
		b.bits = make(map[store.TextKey]int)
	}
	if _, ok := b.bits[k]; ok {
		return
	}
	b.bits[k] = len(b.keys)
	b.keys = append(b.keys, k)
	b.needBody = b.needBody || k.Kind != store.KeyHeader
}

// expr writes c as mode says.
func (b *searchSQL) expr(c *store.SearchCriteria, mode searchMode) string {
	if c.Never {
		return "false"
	}
	var and []string
	for _, set := range c.UIDs {
		and = append(and, b.uidSet(set))
	}
	if !c.Since.IsZero() {
		and = append(and, "m.internal_date >= "+b.arg(searchDayStart(c.Since)))
	}
	if !c.Before.IsZero() {
		and = append(and, "m.internal_date < "+b.arg(searchDayStart(c.Before)))
	}
	if !c.SavedSince.IsZero() {
		and = append(and, "coalesce(m.saved, m.internal_date) >= "+b.arg(searchDayStart(c.SavedSince)))
	}
	if !c.SavedBefore.IsZero() {
		and = append(and, "coalesce(m.saved, m.internal_date) < "+b.arg(searchDayStart(c.SavedBefore)))
	}
	// The day of the Date: header in its own zone: the first ten
	// characters of the envelope's RFC 3339 time ('' without one).
	const sentDay = `coalesce((SELECT substr(x.envelope::json ->> 'd', 1, 10) FROM blobs x WHERE x.id = m.blob_id), '')`
	if !c.SentSince.IsZero() {
		and = append(and, "("+sentDay+" >= "+b.arg(c.SentSince.Format(time.DateOnly))+")")
	}
	if !c.SentBefore.IsZero() {
		and = append(and, "("+sentDay+" <> '' AND "+sentDay+" < "+b.arg(c.SentBefore.Format(time.DateOnly))+")")
	}
	for _, h := range c.Header {
		if col := store.AddressColumn(h); col != "" {
			// Known without the text, so the same in every mode.
			and = append(and, "(strpos(coalesce((SELECT a."+col+" FROM blob_addresses a WHERE a.blob_id = m.blob_id), ''), "+
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
	// Keywords are atoms, compared ignoring ASCII case (SQLite's LIKE):
	// lower() folds ASCII alike in every collation but Turkish ones.
	const words = `(' ' || lower(m.keywords) || ' ')`
	for _, k := range c.Keywords {
		and = append(and, "(strpos("+words+", "+b.arg(" "+searchASCIILower(k)+" ")+") > 0)")
	}
	for _, k := range c.NotKeywords {
		and = append(and, "(strpos("+words+", "+b.arg(" "+searchASCIILower(k)+" ")+") = 0)")
	}
	if c.Larger > 0 {
		and = append(and, "m.size > "+b.arg(c.Larger))
	}
	if c.Smaller > 0 {
		and = append(and, "m.size < "+b.arg(c.Smaller))
	}
	for i := range c.Not {
		and = append(and, "(NOT "+b.expr(&c.Not[i], mode.inverse())+")")
	}
	for i := range c.Or {
		and = append(and, searchJoin([]string{b.expr(&c.Or[i][0], mode), b.expr(&c.Or[i][1], mode)}, "OR"))
	}
	if len(and) == 0 {
		return "true"
	}
	return searchJoin(and, "AND")
}

// text writes text key k, whose search string is s.
func (b *searchSQL) text(k store.TextKey, s string, mode searchMode) string {
	switch mode {
	case searchSubset:
		return "false"
	case searchSuperset:
		cond, ok := b.tsq[s]
		if !ok {
			cond = b.indexCondition(s)
			if b.tsq == nil {
				b.tsq = make(map[string]string)
			}
			b.tsq[s] = cond
		}
		return cond
	}
	blobs := b.hits[b.bits[k]]
	if len(blobs) == 0 {
		return "false"
	}
	return "(m.blob_id = ANY(" + b.arg(blobs) + "::bigint[]))"
}

// searchJoin combines terms with op as a balanced tree, in parentheses,
// so that the expression's depth grows with the logarithm of their
// number.
func searchJoin(terms []string, op string) string {
	if len(terms) == 1 {
		return "(" + terms[0] + ")"
	}
	h := len(terms) / 2
	return "(" + searchJoin(terms[:h], op) + " " + op + " " + searchJoin(terms[h:], op) + ")"
}

// searchDayStart returns the Unix time of the start (UTC) of t's day.
func searchDayStart(t time.Time) int64 {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix()
}

// searchInlineRanges bounds the UID ranges written into the SQL text;
// a larger set is one int8multirange parameter (PostgreSQL 14), which
// PostgreSQL tests by binary search.
const searchInlineRanges = 64

// uidSet writes "the UID is in set".
func (b *searchSQL) uidSet(set []store.UIDRange) string {
	if len(set) == 0 {
		return "false"
	}
	if len(set) > searchInlineRanges {
		var lit strings.Builder
		lit.WriteByte('{')
		for i, r := range set {
			if i > 0 {
				lit.WriteByte(',')
			}
			fmt.Fprintf(&lit, "[%d,%d]", r.Start, r.Stop)
		}
		lit.WriteByte('}')
		return "(m.uid <@ " + b.arg(lit.String()) + "::text::int8multirange)"
	}
	var or []string
	for _, r := range set {
		if r.Start == r.Stop {
			or = append(or, "m.uid = "+strconv.FormatUint(uint64(r.Start), 10))
		} else {
			or = append(or, "m.uid BETWEEN "+strconv.FormatUint(uint64(r.Start), 10)+" AND "+strconv.FormatUint(uint64(r.Stop), 10))
		}
	}
	return searchJoin(or, "OR")
}

func searchASCIILower(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}
