package store

import (
	"errors"
	"fmt"
	"math/bits"
	"time"
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
	// SavedSince and SavedBefore compare the day (UTC) of the save date
	// (RFC 8514), the internal date for messages stored before it was
	// kept.
	SavedSince, SavedBefore time.Time
	// Header: a header field named Field contains Value ("" matches any
	// message that has the field). For From, To, Cc and Bcc, Value is
	// matched against the field's parsed addresses instead (AddressText):
	// names, local parts, domains and addr-specs, not comments or routes.
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

// Limits of one search: Search refuses criteria past any of them with
// ErrSearchLimit before it runs any SQL. Mail clients stay far below
// them: Thunderbird's quick filter, the busiest, sends one header or body
// key per field searched and OR-chains a few of them.
const (
	// MaxSearchTextKeys bounds the keys that read a message's text: BODY,
	// TEXT and the header keys (HEADER, FROM, TO, CC, BCC, SUBJECT).
	// Every candidate message's text is matched against each of them, so
	// they set the CPU cost of a search. 64 is also the width of the bit
	// set that carries one message's results from Search's first pass to
	// its second.
	MaxSearchTextKeys = 64
	// MaxSearchKeys bounds all the keys of a search, NOT and OR included
	// (each set, flag, date and size counts): each is a term of the SQL.
	MaxSearchKeys = 256
	// MaxSearchDepth bounds how deeply NOT and OR nest. SQLite refuses
	// expressions nested deeper than 1000 (SQLITE_MAX_EXPR_DEPTH) and each
	// level costs a few; an OR chain of every allowed text key needs 63.
	MaxSearchDepth = 64
)

// ErrSearchLimit means that criteria exceed one of the limits above.
var ErrSearchLimit = errors.New("store: search too complex")

// SearchSize measures criteria against the limits: how many keys and
// text keys they have, and how deeply NOT and OR nest (0 without them).
type SearchSize struct {
	Keys, TextKeys, Depth int
}

// Check returns an error wrapping ErrSearchLimit if z exceeds a limit.
func (z SearchSize) Check() error {
	switch {
	case z.TextKeys > MaxSearchTextKeys:
		return fmt.Errorf("%w: %d text keys, at most %d", ErrSearchLimit, z.TextKeys, MaxSearchTextKeys)
	case z.Depth > MaxSearchDepth:
		return fmt.Errorf("%w: NOT and OR nested %d deep, at most %d", ErrSearchLimit, z.Depth, MaxSearchDepth)
	case z.Keys > MaxSearchKeys:
		return fmt.Errorf("%w: %d keys, at most %d", ErrSearchLimit, z.Keys, MaxSearchKeys)
	}
	return nil
}

// Add counts sub, nested one level below z's criteria, into z.
func (z *SearchSize) Add(sub SearchSize) {
	z.Keys += sub.Keys
	z.TextKeys += sub.TextKeys
	z.Depth = max(z.Depth, sub.Depth+1)
}

// Size measures c.
func (c *SearchCriteria) Size() SearchSize {
	z := SearchSize{TextKeys: len(c.Header) + len(c.Body) + len(c.Text)}
	z.Keys = z.TextKeys + len(c.UIDs) + len(c.Keywords) + len(c.NotKeywords) + len(c.Not) + len(c.Or) +
		bits.OnesCount(uint(c.Flags)) + bits.OnesCount(uint(c.NotFlags))
	for _, set := range []bool{!c.Since.IsZero(), !c.Before.IsZero(), !c.SentSince.IsZero(), !c.SentBefore.IsZero(),
		!c.SavedSince.IsZero(), !c.SavedBefore.IsZero(),
		c.Larger > 0, c.Smaller > 0, c.Never} {
		if set {
			z.Keys++
		}
	}
	for i := range c.Not {
		z.Add(c.Not[i].Size())
	}
	for i := range c.Or {
		z.Add(c.Or[i][0].Size())
		z.Add(c.Or[i][1].Size())
	}
	return z
}
