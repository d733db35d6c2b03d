package sortthread

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Key is a SORT key, spelt as on the wire.
type Key string

// The sort keys of RFC 5256 section 3 and RFC 5957 section 3.
const (
	KeyArrival     Key = "ARRIVAL"     // INTERNALDATE
	KeyCc          Key = "CC"          // addr-mailbox of the first Cc address
	KeyDate        Key = "DATE"        // sent date (RFC 5256 section 2.2)
	KeyFrom        Key = "FROM"        // addr-mailbox of the first From address
	KeySize        Key = "SIZE"        // RFC822.SIZE
	KeySubject     Key = "SUBJECT"     // base subject (RFC 5256 section 2.1)
	KeyTo          Key = "TO"          // addr-mailbox of the first To address
	KeyDisplayFrom Key = "DISPLAYFROM" // display name of the first From address, else its addr-spec
	KeyDisplayTo   Key = "DISPLAYTO"   // display name of the first To address, else its addr-spec
)

// ParseKey returns the Key an atom names, in any case, and false for an atom
// that names none (REVERSE is a Criterion flag, not a key).
func ParseKey(atom string) (Key, bool) {
	k := Key(strings.ToUpper(atom))
	switch k {
	case KeyArrival, KeyCc, KeyDate, KeyFrom, KeySize, KeySubject, KeyTo, KeyDisplayFrom, KeyDisplayTo:
		return k, true
	}
	return "", false
}

// Criterion is one sort criterion: a key, ascending unless Reverse.
type Criterion struct {
	Key     Key
	Reverse bool
}

// ErrNoCriteria is returned by Sort for an empty criteria list, which RFC
// 5256's grammar does not allow (sort-criteria is a non-empty list).
var ErrNoCriteria = errors.New("sortthread: no sort criteria")

// Sort orders msgs by criteria and returns the indices into msgs in that
// order. Ties left by every criterion are broken by ascending Seq, which
// REVERSE does not turn round (RFC 5256 section 3); equal Seqs keep input
// order. msgs is not modified.
func Sort(msgs []Message, criteria []Criterion) ([]int, error) {
	if len(criteria) == 0 {
		return nil, ErrNoCriteria
	}
	cols := make([]column, len(criteria))
	for i, c := range criteria {
		col, err := newColumn(msgs, c)
		if err != nil {
			return nil, err
		}
		cols[i] = col
	}
	order := make([]int, len(msgs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		for i := range cols {
			if c := cols[i].compare(a, b); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(msgs[a].Seq, msgs[b].Seq); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return order, nil
}

// column holds one criterion's key for every message, computed once so that
// the O(n log n) comparisons do not extract subjects or map case again.
type column struct {
	reverse bool
	strs    []string
	times   []time.Time
	sizes   []int64
}

func newColumn(msgs []Message, c Criterion) (column, error) {
	col := column{reverse: c.Reverse}
	switch c.Key {
	case KeyArrival, KeyDate:
		col.times = make([]time.Time, len(msgs))
		for i := range msgs {
			if c.Key == KeyArrival {
				col.times[i] = msgs[i].InternalDate
			} else {
				col.times[i] = msgs[i].sentDate()
			}
		}
	case KeySize:
		col.sizes = make([]int64, len(msgs))
		for i := range msgs {
			col.sizes[i] = msgs[i].Size
		}
	case KeySubject, KeyFrom, KeyTo, KeyCc, KeyDisplayFrom, KeyDisplayTo:
		col.strs = make([]string, len(msgs))
		for i := range msgs {
			col.strs[i] = CollationKey(stringKey(&msgs[i], c.Key))
		}
	default:
		return column{}, fmt.Errorf("sortthread: unknown sort key %q", c.Key)
	}
	return col, nil
}

// stringKey is the text a string key compares, before case mapping. A
// missing header gives the empty string, which sorts first.
func stringKey(m *Message, k Key) string {
	switch k {
	case KeySubject:
		s, _ := BaseSubject(m.Subject)
		return s
	case KeyFrom:
		return m.From.Mailbox
	case KeyTo:
		return m.To.Mailbox
	case KeyCc:
		return m.Cc.Mailbox
	case KeyDisplayFrom:
		return displayName(m.From)
	case KeyDisplayTo:
		return displayName(m.To)
	}
	return ""
}

// displayName is the DISPLAYFROM/DISPLAYTO text of RFC 5957 section 3: the
// display name when it is not empty (white space alone counts as empty),
// else the addr-spec, mailbox@host.
func displayName(a Address) string {
	if strings.TrimSpace(a.Name) != "" {
		return a.Name
	}
	if a.Host == "" {
		return a.Mailbox
	}
	return a.Mailbox + "@" + a.Host
}

func (col *column) compare(a, b int) int {
	var c int
	switch {
	case col.strs != nil:
		c = strings.Compare(col.strs[a], col.strs[b])
	case col.times != nil:
		c = col.times[a].Compare(col.times[b])
	default:
		c = cmp.Compare(col.sizes[a], col.sizes[b])
	}
	if col.reverse {
		return -c
	}
	return c
}
