package store

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mattn/go-sqlite3"
)

// SearchCriteria select messages of a mailbox; every field that is set
// must match (AND). Text matching is case-insensitive substring matching
// (see Fold) against the decoded header and body text stored with each
// blob.
type SearchCriteria struct {
	// UIDs: the message's UID is in each of these sets.
	UIDs [][]UIDRange
	// Since and Before compare the internal date's day (UTC) with the
	// day of these times (their year, month and day; the rest is ignored).
	Since, Before time.Time
	// SentSince and SentBefore compare the day of the Date: header, in
	// its own time zone. A message without a Date: matches neither.
	SentSince, SentBefore time.Time
	// Header: a header field named Field contains Value ("" matches any
	// message that has the field).
	Header []HeaderCriterion
	Body   []string // the body text contains each
	Text   []string // the header or the body text contains each
	// Flags and NotFlags are system flag bits (Flag*) that must all be set,
	// or all be clear.
	Flags, NotFlags int
	// Keywords must all be set, NotKeywords all be clear (ASCII case is
	// ignored).
	Keywords, NotKeywords []string
	// Larger and Smaller bound the size in octets when positive.
	Larger, Smaller int64
	Not             []SearchCriteria
	Or              [][2]SearchCriteria
	// Never makes the criteria match nothing (as \Recent, which Pillarbox
	// never sets).
	Never bool
}

// HeaderCriterion is one HEADER search key.
type HeaderCriterion struct {
	Field, Value string
}

// Search calls fn for every message of the mailbox that matches c, in UID
// order, with its sequence number when withSeq (else 0).
func (s *Snapshot) Search(ctx context.Context, mailboxID int64, c *SearchCriteria, withSeq bool, fn func(uid, seq uint32) error) error {
	b := &sqlBuilder{}
	expr := b.criteria(c)
	if b.functions {
		if err := s.registerFunctions(ctx); err != nil {
			return err
		}
	}
	// The results come back as one string that SQLite builds ("uid" or
	// "uid:seq", comma-separated, in UID order): a row of database/sql
	// costs more than the search itself when most messages match.
	var q string
	var args []any
	if withSeq {
		q = `SELECT coalesce(group_concat(uid || ':' || seq, ','), '') FROM (SELECT uid, seq FROM
			(SELECT m.uid AS uid, row_number() OVER (ORDER BY m.uid) AS seq, ` + expr +
			` AS hit FROM messages m WHERE m.mailbox_id = ?) WHERE hit ORDER BY uid)`
		args = append(b.args, mailboxID)
	} else {
		q = `SELECT coalesce(group_concat(uid, ','), '') FROM (SELECT m.uid AS uid FROM messages m
			WHERE m.mailbox_id = ? AND ` + expr + ` ORDER BY m.uid)`
		args = append([]any{mailboxID}, b.args...)
	}
	var packed string
	if err := s.tx.QueryRowContext(ctx, q, args...).Scan(&packed); err != nil {
		return fmt.Errorf("store: search: %w", err)
	}
	var prev uint32
	for packed != "" {
		var item string
		item, packed, _ = strings.Cut(packed, ",")
		u, sq, _ := strings.Cut(item, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return fmt.Errorf("store: search: bad result %q", item)
		}
		var seq uint64
		if withSeq {
			if seq, err = strconv.ParseUint(sq, 10, 32); err != nil {
				return fmt.Errorf("store: search: bad result %q", item)
			}
		}
		if uint32(uid) <= prev {
			return fmt.Errorf("store: search: results out of order")
		}
		prev = uint32(uid)
		if err := fn(uint32(uid), uint32(seq)); err != nil {
			return err
		}
	}
	return nil
}

// Names of the SQL functions Search registers on the read connections it
// uses: exact text matching that SQLite cannot do without ICU.
const (
	fnContains = "pillarbox_contains" // (text, folded needle) → bool
	fnHeader   = "pillarbox_header"   // (header text, field, folded needle) → bool
	fnInSet    = "pillarbox_inset"    // (uid, "1:3,7") → bool
)

// registerFunctions adds the search functions to the snapshot's
// connection unless it has them already (go-sqlite3 keeps every
// registration until the connection closes, so register only once).
func (s *Snapshot) registerFunctions(ctx context.Context) error {
	var ok int
	if s.tx.QueryRowContext(ctx, `SELECT `+fnContains+`('', '')`).Scan(&ok) == nil {
		return nil
	}
	return s.conn.Raw(func(dc any) error {
		c, isSQLite := dc.(*sqlite3.SQLiteConn)
		if !isSQLite {
			return fmt.Errorf("store: search: unexpected driver connection %T", dc)
		}
		var buf []byte // calls on one connection never overlap
		contains := func(text, needle string) bool {
			buf = AppendFold(buf[:0], text)
			return bytes.Contains(buf, []byte(needle))
		}
		if err := c.RegisterFunc(fnContains, contains, true); err != nil {
			return fmt.Errorf("store: search: %w", err)
		}
		header := func(text, field, needle string) bool {
			for len(text) > 0 {
				line := text
				if i := strings.IndexByte(text, '\n'); i >= 0 {
					line, text = text[:i], text[i+1:]
				} else {
					text = ""
				}
				name, value, ok := strings.Cut(line, ":")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), field) {
					continue
				}
				if needle == "" || contains(value, needle) {
					return true
				}
			}
			return false
		}
		if err := c.RegisterFunc(fnHeader, header, true); err != nil {
			return fmt.Errorf("store: search: %w", err)
		}
		var lastSet string
		var lastRanges []UIDRange
		inSet := func(uid int64, set string) bool {
			if set != lastSet || lastRanges == nil {
				lastSet, lastRanges = set, parseRanges(set)
			}
			return inRanges(lastRanges, uint32(uid))
		}
		if err := c.RegisterFunc(fnInSet, inSet, true); err != nil {
			return fmt.Errorf("store: search: %w", err)
		}
		return nil
	})
}

// Fold returns s with every character replaced by a canonical member of
// its simple case folding class (as strings.EqualFold compares them), so
// that case-insensitive matching is a plain substring test.
func Fold(s string) string { return string(AppendFold(nil, s)) }

// AppendFold appends Fold(s) to dst. Invalid UTF-8 is kept as it is.
func AppendFold(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, foldRune(r))
		i += n
	}
	return dst
}

// foldRune returns the smallest rune of r's simple folding orbit; for
// ASCII letters that is the upper-case letter.
func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	return m
}

// sqlBuilder turns SearchCriteria into an SQL expression over messages m.
type sqlBuilder struct {
	args      []any
	functions bool // the expression calls the registered functions
}

func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "?"
}

func (b *sqlBuilder) criteria(c *SearchCriteria) string {
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
	const sentDay = `coalesce((SELECT substr(json_extract(x.envelope, '$.d'), 1, 10) FROM blobs x WHERE x.id = m.blob_id), '')`
	if !c.SentSince.IsZero() {
		and = append(and, "("+sentDay+" >= "+b.arg(c.SentSince.Format(time.DateOnly))+")")
	}
	if !c.SentBefore.IsZero() {
		and = append(and, "("+sentDay+" != '' AND "+sentDay+" < "+b.arg(c.SentBefore.Format(time.DateOnly))+")")
	}
	for _, h := range c.Header {
		and = append(and, b.header(h))
	}
	for _, s := range c.Body {
		and = append(and, b.text(s, false))
	}
	for _, s := range c.Text {
		and = append(and, b.text(s, true))
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
	for i := range c.Not {
		and = append(and, "NOT "+b.criteria(&c.Not[i]))
	}
	for i := range c.Or {
		l := b.criteria(&c.Or[i][0])
		r := b.criteria(&c.Or[i][1])
		and = append(and, "("+l+" OR "+r+")")
	}
	if len(and) == 0 {
		return "1"
	}
	return "(" + strings.Join(and, " AND ") + ")"
}

// dayStart returns the Unix time of the start (UTC) of t's day.
func dayStart(t time.Time) int64 {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix()
}

// maxInlineRanges bounds the UID ranges written into the SQL text; larger
// sets go through pillarbox_inset.
const maxInlineRanges = 64

func (b *sqlBuilder) uidSet(set []UIDRange) string {
	if len(set) == 0 {
		return "0"
	}
	if len(set) > maxInlineRanges {
		b.functions = true
		return fnInSet + "(m.uid, " + b.arg(formatRanges(set)) + ")"
	}
	var or []string
	for _, r := range set {
		if r.Start == r.Stop {
			or = append(or, "m.uid = "+b.arg(r.Start))
		} else {
			or = append(or, "m.uid BETWEEN "+b.arg(r.Start)+" AND "+b.arg(r.Stop))
		}
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// textExists is true when a message's search text satisfies cond (over
// columns t.header and t.body), wherever the text is: in the full-text
// index, or still waiting to enter it (the indexer moves each row in one
// transaction, so it is in exactly one of the two). The pending table is
// a primary-key lookup that almost always misses.
func textExists(cond func() string) string {
	return "(EXISTS (SELECT 1 FROM blob_text t WHERE t.docid = m.blob_id AND " + cond() + ")" +
		" OR EXISTS (SELECT 1 FROM blob_text_pending t WHERE t.blob_id = m.blob_id AND " + cond() + "))"
}

func (b *sqlBuilder) header(h HeaderCriterion) string {
	b.functions = true
	// The LIKE pattern is a cheap superset in C; the function decides.
	pat := "%" + likePattern(h.Field) + ":%" + likePattern(h.Value) + "%"
	return textExists(func() string {
		return "t.header LIKE " + b.arg(pat) + ` ESCAPE '\' AND ` + fnHeader + "(t.header, " + b.arg(h.Field) + ", " + b.arg(Fold(h.Value)) + ")"
	})
}

// text matches the body (and the header, if header) against s: first the
// full-text index where a query on it finds every match (text not indexed
// yet is always a candidate), else a LIKE pattern that finds every match,
// then the exact function.
func (b *sqlBuilder) text(s string, header bool) string {
	if s == "" {
		return "1"
	}
	b.functions = true
	var pre string
	if q := ftsQuery(s); q != "" {
		col := "body"
		if header {
			col = "blob_text"
		}
		pre = "(m.blob_id IN (SELECT docid FROM blob_text WHERE " + col + " MATCH " + b.arg(q) +
			") OR m.blob_id IN (SELECT blob_id FROM blob_text_pending)) AND "
	}
	pat := "%" + likePattern(s) + "%"
	needle := Fold(s)
	match := func(col string) string {
		return "(t." + col + " LIKE " + b.arg(pat) + ` ESCAPE '\' AND ` + fnContains + "(t." + col + ", " + b.arg(needle) + "))"
	}
	return "(" + pre + textExists(func() string {
		if header {
			return "(" + match("header") + " OR " + match("body") + ")"
		}
		return match("body")
	}) + ")"
}

// ftsQuery returns an FTS4 query that matches every document containing s
// as a substring (ignoring case), or "" if there is none, so that a
// substring search can use the index without missing anything.
//
// The unicode61 tokenizer splits text at every ASCII character other than
// letters and digits. Within s, a run of other characters that has such a
// separator on both sides is tokenized the same way wherever s occurs, so
// the tokens of all such runs form a phrase every match contains; a final
// run with a separator before it only starts a token (a prefix query). The
// first run, without a separator before it, may end a longer token and
// gives nothing.
func ftsQuery(s string) string {
	type run struct{ start, end int }
	var runs []run
	start := -1
	for i := 0; i < len(s); i++ {
		if isASCIISeparator(s[i]) {
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
	var words []string
	for i, r := range runs {
		if r.start == 0 {
			continue // may be the end of a longer token
		}
		w := strings.ToLower(s[r.start:r.end])
		if !hasASCIIAlnum(w) {
			// Only non-ASCII characters: the tokenizer might see no token
			// at all here, which would make the query match nothing.
			if len(words) > 0 {
				break // the phrase must stay contiguous
			}
			continue
		}
		if r.end == len(s) {
			if i == len(runs)-1 {
				w += "*"
			}
		}
		words = append(words, w)
	}
	if len(words) == 0 {
		return ""
	}
	return `"` + strings.Join(words, " ") + `"`
}

func isASCIISeparator(c byte) bool {
	return c < utf8.RuneSelf && !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z')
}

func hasASCIIAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; '0' <= c && c <= '9' || 'a' <= c && c <= 'z' {
			return true
		}
	}
	return false
}

// likePattern turns s into a LIKE pattern (escape '\') matching at least
// every text that contains s ignoring case. LIKE ignores the case of ASCII
// letters only, so characters with other case variants (and the ASCII
// letters whose variants include non-ASCII ones, such as k and the Kelvin
// sign) become '_', which matches any one character.
func likePattern(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '%' || r == '_' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.SimpleFold(r) == r:
			b.WriteRune(r) // no case variants
		case r < utf8.RuneSelf && asciiOrbit(r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// asciiOrbit reports whether every case variant of r is ASCII.
func asciiOrbit(r rune) bool {
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// formatRanges writes ranges as "1:3,7".
func formatRanges(set []UIDRange) string {
	var b []byte
	for i, r := range set {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(r.Start), 10)
		if r.Stop != r.Start {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(r.Stop), 10)
		}
	}
	return string(b)
}

// parseRanges reads what formatRanges wrote.
func parseRanges(s string) []UIDRange {
	out := []UIDRange{}
	for part := range strings.SplitSeq(s, ",") {
		a, b, isRange := strings.Cut(part, ":")
		lo, err1 := strconv.ParseUint(a, 10, 32)
		hi := lo
		var err2 error
		if isRange {
			hi, err2 = strconv.ParseUint(b, 10, 32)
		}
		if err1 == nil && err2 == nil {
			out = append(out, UIDRange{uint32(lo), uint32(hi)})
		}
	}
	return out
}

// inRanges reports whether uid is in the sorted ranges.
func inRanges(set []UIDRange, uid uint32) bool {
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
