package mailbox

import (
	"strings"
	"time"

	"pillarbox/store"
)

// Limits of one search (see store.MaxSearchTextKeys and the others for
// their reasons). Reader.Search refuses criteria past them with
// ErrSearchLimit before it reads anything.
const (
	MaxSearchTextKeys = store.MaxSearchTextKeys // BODY, TEXT and header keys
	MaxSearchKeys     = store.MaxSearchKeys     // all keys, NOT and OR included
	MaxSearchDepth    = store.MaxSearchDepth    // nesting of NOT and OR
)

// ErrSearchLimit means that a search exceeds one of the limits above.
var ErrSearchLimit = store.ErrSearchLimit

// SearchSize measures criteria against the limits; Check says whether
// they are within.
type SearchSize = store.SearchSize

// Criteria select messages of a folder (IMAP SEARCH, RFC 9051 6.4.4);
// every field that is set must match. Strings match as case-insensitive
// substrings of the decoded header fields and text stored at delivery;
// an empty string matches every message.
type Criteria struct {
	UIDs []UIDSet // the UID is in each set
	// Since and Before compare the internal date's day (UTC);
	// SentSince and SentBefore the Date: header's day, in its own zone.
	// Only the year, month and day of these times count.
	Since, Before, SentSince, SentBefore time.Time
	// SavedSince and SavedBefore compare the save date's day (RFC 8514).
	SavedSince, SavedBefore time.Time
	Header                  []HeaderMatch
	Body                    []string
	Text                    []string // header or body
	// Flags must all be set, NotFlags all clear: system flags in any case
	// and keywords. \Recent is never set.
	Flags, NotFlags []string
	Larger, Smaller int64 // sizes in octets, when positive
	Not             []Criteria
	Or              [][2]Criteria
}

// HeaderMatch is a header field that contains Value ("" for any value).
type HeaderMatch struct {
	Field, Value string
}

// compile turns c into the store's criteria.
func (c *Criteria) compile() (store.SearchCriteria, error) {
	var sc store.SearchCriteria
	for _, set := range c.UIDs {
		sc.UIDs = append(sc.UIDs, set)
	}
	sc.Since, sc.Before, sc.SentSince, sc.SentBefore = c.Since, c.Before, c.SentSince, c.SentBefore
	sc.SavedSince, sc.SavedBefore = c.SavedSince, c.SavedBefore
	for _, h := range c.Header {
		sc.Header = append(sc.Header, store.HeaderCriterion{Field: h.Field, Value: h.Value})
	}
	sc.Body, sc.Text = c.Body, c.Text
	for _, f := range c.Flags {
		if strings.EqualFold(f, FlagRecent) {
			sc.Never = true
			continue
		}
		bits, kw, err := parseFlags([]string{f})
		if err != nil {
			// A keyword that cannot exist is set on no message.
			sc.Never = true
			continue
		}
		sc.Flags |= bits
		sc.Keywords = append(sc.Keywords, kw...)
	}
	for _, f := range c.NotFlags {
		if strings.EqualFold(f, FlagRecent) {
			continue
		}
		bits, kw, err := parseFlags([]string{f})
		if err != nil {
			continue
		}
		sc.NotFlags |= bits
		sc.NotKeywords = append(sc.NotKeywords, kw...)
	}
	sc.Larger, sc.Smaller = c.Larger, c.Smaller
	for i := range c.Not {
		n, err := c.Not[i].compile()
		if err != nil {
			return sc, err
		}
		sc.Not = append(sc.Not, n)
	}
	for i := range c.Or {
		l, err := c.Or[i][0].compile()
		if err != nil {
			return sc, err
		}
		r, err := c.Or[i][1].compile()
		if err != nil {
			return sc, err
		}
		sc.Or = append(sc.Or, [2]store.SearchCriteria{l, r})
	}
	return sc, nil
}
