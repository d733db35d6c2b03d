package imap

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"pillarbox/mailbox"
)

// Search answers SEARCH and UID SEARCH (RFC 9051 6.4.4) with ESEARCH
// (RFC 4731) and SAVE (RFC 5182). The criteria run in SQL in one snapshot,
// with sequence sets turned into UIDs in that same snapshot.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	v, err := s.selected()
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var seqs, uids []mailbox.UIDRange
	data := &imap.SearchData{}
	err = s.read(ctx, v, func(r *mailbox.Reader, m *mapping) error {
		c, err := convertCriteria(r, m, v, criteria)
		if err != nil {
			return err
		}
		// Sequence numbers are needed for SEARCH, and to leave out the
		// messages the client has not been told of yet.
		withSeq := kind == imapserver.NumKindSeq || len(m.events) > 0
		return r.Search(&c, withSeq, func(uid, seq uint32) error {
			if withSeq {
				if seq = m.toClient(seq); seq == 0 {
					return nil
				}
			}
			uids = appendNum(uids, uid)
			n := uid
			if kind == imapserver.NumKindSeq {
				seqs = appendNum(seqs, seq)
				n = seq
			}
			if data.Min == 0 {
				data.Min = n
			}
			data.Max = n
			data.Count++
			return nil
		})
	})
	if err != nil {
		if options.ReturnSave {
			v.saved = nil // RFC 5182 2.1: a failed search empties $
		}
		return nil, s.fail("search", err)
	}
	if options.ReturnSave {
		v.saved = uids
	}
	if kind == imapserver.NumKindSeq {
		set := imap.SeqSet{}
		for _, r := range seqs {
			set = append(set, imap.SeqRange{Start: r.Start, Stop: r.Stop})
		}
		data.All = set
	} else {
		data.All = toUIDSet(uids)
	}
	return data, nil
}

// convertCriteria turns the library's criteria into the mailbox's,
// resolving sequence sets, '*' and '$' in the snapshot r.
func convertCriteria(r *mailbox.Reader, m *mapping, v *view, c *imap.SearchCriteria) (mailbox.Criteria, error) {
	out := mailbox.Criteria{
		Since: c.Since, Before: c.Before, SentSince: c.SentSince, SentBefore: c.SentBefore,
		Body: c.Body, Text: c.Text,
		Flags: flagNames(c.Flag), NotFlags: flagNames(c.NotFlag),
		Larger: c.Larger, Smaller: c.Smaller,
	}
	for _, set := range c.SeqNum {
		uids, err := resolve(r, m, v, set)
		if err != nil {
			return out, err
		}
		out.UIDs = append(out.UIDs, uids)
	}
	for _, set := range c.UID {
		uids, err := resolve(r, m, v, set)
		if err != nil {
			return out, err
		}
		out.UIDs = append(out.UIDs, uids)
	}
	for _, h := range c.Header {
		out.Header = append(out.Header, mailbox.HeaderMatch{Field: h.Key, Value: h.Value})
	}
	for i := range c.Not {
		n, err := convertCriteria(r, m, v, &c.Not[i])
		if err != nil {
			return out, err
		}
		out.Not = append(out.Not, n)
	}
	for i := range c.Or {
		a, err := convertCriteria(r, m, v, &c.Or[i][0])
		if err != nil {
			return out, err
		}
		b, err := convertCriteria(r, m, v, &c.Or[i][1])
		if err != nil {
			return out, err
		}
		out.Or = append(out.Or, [2]mailbox.Criteria{a, b})
	}
	return out, nil
}
