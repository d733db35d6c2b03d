package imap

import (
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// The search keys EMAILID and THREADID (RFC 8474 6) have no field in
// go-imap's search criteria, which the search code speaks. searchCriteria
// carries them as header keys under names no header field can have (a
// NUL is refused by the parser), and convertCriteria turns them back.
const (
	keyEmailID  = "\x00EMAILID"
	keyThreadID = "\x00THREADID"
)

// searchCriteria converts the parser's criteria, EMAILID and THREADID
// included; false if they hold a key Pillarbox does not search by
// (WITHIN's OLDER and YOUNGER, SAVEDATE's).
func searchCriteria(c *wire.SearchCriteria) (imap.SearchCriteria, bool) {
	plain := *c
	plain.EmailID, plain.ThreadID, plain.Not, plain.Or = nil, nil, nil, nil
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
