package imap

import (
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// The search keys EMAILID and THREADID (RFC 8474 6) have no field in
// go-imap's search criteria, which the search code speaks. searchCriteria
// carries them as header keys under names no header field can have (a
// NUL is refused by the parser), and convertCriteria turns them back.
const (
	keyEmailID     = "\x00EMAILID"
	keyThreadID    = "\x00THREADID"
	keySavedSince  = "\x00SAVEDSINCE"  // RFC 8514, a date as 2006-01-02
	keySavedBefore = "\x00SAVEDBEFORE" // likewise
)

// searchCriteria converts the parser's criteria, EMAILID and THREADID
// included; false if they hold a key Pillarbox does not search by
// (WITHIN's OLDER and YOUNGER, SAVEDATE's).
func searchCriteria(c *wire.SearchCriteria) (imap.SearchCriteria, bool) {
	plain := *c
	plain.EmailID, plain.ThreadID, plain.Not, plain.Or = nil, nil, nil, nil
	// SAVEDATESUPPORTED matches every message: every mailbox keeps save
	// dates (RFC 8514 4).
	plain.SaveDateSince, plain.SaveDateBefore, plain.SaveDateSupported = time.Time{}, time.Time{}, false
	out, ok := plain.IMAP()
	if !ok {
		return out, false
	}
	for _, id := range c.EmailID {
		out.Header = append(out.Header, imap.SearchCriteriaHeaderField{Key: keyEmailID, Value: id})
	}
	for _, id := range c.ThreadID {
		out.Header = append(out.Header, imap.SearchCriteriaHeaderField{Key: keyThreadID, Value: id})
	}
	if !c.SaveDateSince.IsZero() {
		out.Header = append(out.Header, imap.SearchCriteriaHeaderField{Key: keySavedSince, Value: c.SaveDateSince.Format(time.DateOnly)})
	}
	if !c.SaveDateBefore.IsZero() {
		out.Header = append(out.Header, imap.SearchCriteriaHeaderField{Key: keySavedBefore, Value: c.SaveDateBefore.Format(time.DateOnly)})
	}
	for i := range c.Not {
		n, ok := searchCriteria(&c.Not[i])
		if !ok {
			return out, false
		}
		out.Not = append(out.Not, n)
	}
	for i := range c.Or {
		a, ok1 := searchCriteria(&c.Or[i][0])
		b, ok2 := searchCriteria(&c.Or[i][1])
		if !ok1 || !ok2 {
			return out, false
		}
		out.Or = append(out.Or, [2]imap.SearchCriteria{a, b})
	}
	return out, true
}

// objectIDKey turns an EMAILID or THREADID key into the UIDs it names
// in the snapshot: the messages of the stored message an EMAILID names;
// none for a THREADID, since Pillarbox gives no thread ids (THREADID
// NIL). ok is false for another header key.
func objectIDKey(r *mailbox.Reader, h imap.SearchCriteriaHeaderField) (mailbox.UIDSet, bool, error) {
	switch h.Key {
	case keyThreadID:
		return mailbox.UIDSet{}, true, nil
	case keyEmailID:
		blob, err := strconv.ParseInt(strings.TrimPrefix(h.Value, "E"), 10, 64)
		if err != nil || !strings.HasPrefix(h.Value, "E") || blob <= 0 {
			return mailbox.UIDSet{}, true, nil // no such id
		}
		uids, err := r.UIDsOfBlob(blob)
		if err != nil {
			return nil, true, err
		}
		var set []mailbox.UIDRange
		for _, u := range uids {
			set = appendNum(set, u)
		}
		if set == nil {
			set = mailbox.UIDSet{}
		}
		return set, true, nil
	}
	return nil, false, nil
}

// savedKey applies a SAVEDSINCE or SAVEDBEFORE key (carried as a header
// key, see searchCriteria) to out; false for another header key.
func savedKey(out *mailbox.Criteria, h imap.SearchCriteriaHeaderField) bool {
	if h.Key != keySavedSince && h.Key != keySavedBefore {
		return false
	}
	d, err := time.Parse(time.DateOnly, h.Value)
	if err != nil {
		return true // cannot happen: searchCriteria wrote it
	}
	if h.Key == keySavedSince {
		if out.SavedSince.IsZero() || d.After(out.SavedSince) {
			out.SavedSince = d
		}
	} else if out.SavedBefore.IsZero() || d.Before(out.SavedBefore) {
		out.SavedBefore = d
	}
	return true
}
