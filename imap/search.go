package imap

import (
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/sortthread"
	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// Search answers SEARCH and UID SEARCH (RFC 9051 6.4.4) with ESEARCH
// (RFC 4731) and SAVE (RFC 5182). The criteria run in SQL in one snapshot,
// with sequence sets turned into UIDs in that same snapshot.
//
// A search costs the server more than any other command, so it is
// bounded: criteria past mailbox's limits are refused before any work, at
// most Options.MaxSearches run at once, and each stops after
// Options.SearchTimeout. All three answer NO [LIMIT] (RFC 5530 3).
func (s *session) cmdSearch(c *wire.Search) (result, error) {
	v := s.view
	switch c.Charset {
	case "", "UTF-8", "US-ASCII":
	default:
		// RFC 9051 6.4.4: the charsets the server supports, in the code.
		return result{}, no("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
	}
	criteria, ok := searchCriteria(&c.Criteria)
	if !ok {
		return result{}, bad("Search key not supported")
	}
	options := c.Return
	if usesModSeq(&criteria) {
		if err := s.condStoreOn(); err != nil {
			return result{}, err
		}
	}
	data, uids, lost, err := s.search(v, c.UID, &criteria, options)
	s.tellsUpTo()
	if err != nil {
		if options != nil && options.ReturnSave {
			v.saved = nil // RFC 5182 2.1: a failed search empties $
		}
		return result{}, err
	}
	if options != nil && options.ReturnSave {
		v.saved = uids
	}
	nums := numbers(data.All)
	if c.Partial != nil {
		// RFC 9394: PARTIAL takes the place of ALL, with MIN, MAX and
		// COUNT as they are (the result is in ascending order).
		s.writeESearchData(c.Tag, c.UID, sortthread.ESortReturn{Min: options.ReturnMin, Max: options.ReturnMax,
			Count: options.ReturnCount, Partial: partialOf(c.Partial)}, nums)
	} else {
		s.writeSearch(c.Tag, c.UID, options, data)
	}
	res := lostResult(c.UID, lost)
	if c.Update {
		return res, s.startUpdate(c.Tag, c.UID, criteria, nil, uidList(uids), nums)
	}
	return res, nil
}

// esearchHead writes the start of an ESEARCH response (RFC 4731 3):
// the correlator of the command's tag, and UID for UID commands.
func (s *session) esearchHead(tag string, uid bool) {
	w := s.w
	w.Untagged()
	w.Token("ESEARCH (TAG ")
	w.String(tag)
	w.Token(")")
	if uid {
		w.Token(" UID")
	}
}

// writeESearchData writes an ESEARCH response whose data package
// sortthread formats: SORT's, and SEARCH's with PARTIAL.
func (s *session) writeESearchData(tag string, uid bool, ret sortthread.ESortReturn, nums []uint32) {
	w := s.w
	s.esearchHead(tag, uid)
	if data := sortthread.AppendESortData(nil, nums, ret); len(data) > 0 {
		w.SP()
		w.Token(string(data))
	}
	w.CRLF()
}

// writeSearch answers a search: SEARCH for an IMAP4rev1 client that did
// not ask for ESEARCH (RFC 3501 7.2.5), else ESEARCH (RFC 4731, RFC 9051
// 7.3.4). A search that only saves its result answers nothing (RFC 5182
// 2.4).
func (s *session) writeSearch(tag string, uid bool, o *imap.SearchOptions, data *imap.SearchData) {
	w := s.w
	if o == nil && !s.enabled.rev2 {
		w.Untagged()
		w.Token("SEARCH")
		for _, n := range numbers(data.All) {
			w.SP()
			w.Number(n)
		}
		if data.ModSeq != 0 {
			w.Token(" (MODSEQ ")
			w.Number64(data.ModSeq)
			w.Token(")")
			s.shownModSeq = max(s.shownModSeq, data.ModSeq)
		}
		w.CRLF()
		return
	}
	if o == nil {
		o = &imap.SearchOptions{ReturnAll: true}
	}
	if !o.ReturnMin && !o.ReturnMax && !o.ReturnAll && !o.ReturnCount {
		return
	}
	s.esearchHead(tag, uid)
	if o.ReturnMin && data.Count > 0 {
		w.Token(" MIN ")
		w.Number(data.Min)
	}
	if o.ReturnMax && data.Count > 0 {
		w.Token(" MAX ")
		w.Number(data.Max)
	}
	if o.ReturnAll && data.Count > 0 {
		w.Token(" ALL ")
		w.NumSet(data.All)
	}
	if o.ReturnCount {
		w.Token(" COUNT ")
		w.Number(data.Count)
	}
	if data.ModSeq != 0 {
		w.Token(" MODSEQ ")
		w.Number64(data.ModSeq)
		s.shownModSeq = max(s.shownModSeq, data.ModSeq)
	}
	w.CRLF()
}

// uidList lists the UIDs of a set, in order.
func uidList(set mailbox.UIDSet) []uint32 {
	return numbers(toUIDSet(set))
}

// numbers lists the numbers of a set, in order.
func numbers(set imap.NumSet) []uint32 {
	var out []uint32
	switch set := set.(type) {
	case imap.SeqSet:
		for _, r := range set {
			for n := r.Start; ; n++ {
				out = append(out, n)
				if n == r.Stop {
					break
				}
			}
		}
	case imap.UIDSet:
		for _, r := range set {
			for n := r.Start; ; n++ {
				out = append(out, uint32(n))
				if n == r.Stop {
					break
				}
			}
		}
	}
	return out
}

// search runs a search within its limits; it returns the UIDs found as
// well, for SAVE, and whether a message the client still sees was
// expunged meanwhile, and so not searched (lostKnown).
func (s *session) search(v *view, byUID bool, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, []mailbox.UIDRange, bool, error) {
	if err := searchSize(criteria).Check(); err != nil {
		return nil, nil, false, s.fail("search", err)
	}
	ctx, cancel := s.ctxWithin(s.srv.opts.SearchTimeout)
	defer cancel()
	// A free turn is taken even when the budget is spent: the search then
	// stops at its first query, as "took too long".
	select {
	case s.srv.searches <- struct{}{}:
	default:
		select {
		case s.srv.searches <- struct{}{}:
		case <-ctx.Done():
			return nil, nil, false, no(imap.ResponseCodeLimit, "Too many searches at once, try again later")
		}
	}
	defer func() { <-s.srv.searches }()
	var seqs, uids []mailbox.UIDRange
	data := &imap.SearchData{}
	lost := false
	err := s.read(ctx, v, func(r *mailbox.Reader, m *mapping) error {
		if s.srv.searchHook != nil {
			s.srv.searchHook()
		}
		s.searched = boxVersion{v: m.version, set: true}
		lost = m.lostKnown()
		c, err := convertCriteria(r, m, v, criteria)
		if err != nil {
			return err
		}
		// Sequence numbers are needed for SEARCH, and to leave out the
		// messages the client has not been told of yet.
		withSeq := !byUID || len(m.events) > 0
		var minUID, maxUID uint32
		err = r.Search(&c, withSeq, func(uid, seq uint32) error {
			if withSeq {
				if seq = m.toClient(seq); seq == 0 {
					return nil
				}
			}
			uids = appendNum(uids, uid)
			n := uid
			if !byUID {
				seqs = appendNum(seqs, seq)
				n = seq
			}
			if data.Min == 0 {
				data.Min, minUID = n, uid
			}
			data.Max, maxUID = n, uid
			data.Count++
			return nil
		})
		if err != nil || data.Count == 0 || !usesModSeq(criteria) {
			return err
		}
		data.ModSeq, err = searchModSeq(r, uids, minUID, maxUID, options)
		return err
	})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, false, no(imap.ResponseCodeLimit, "Search took too long")
		}
		return nil, nil, false, s.fail("search", err)
	}
	if !byUID {
		set := imap.SeqSet{}
		for _, r := range seqs {
			set = append(set, imap.SeqRange{Start: r.Start, Stop: r.Stop})
		}
		data.All = set
	} else {
		data.All = toUIDSet(uids)
	}
	return data, uids, lost, nil
}

// searchSize measures go-imap's criteria as the store measures its
// own (store.SearchCriteria.Size), so that a search past the limits is
// refused before it takes a snapshot or resolves any set.
func searchSize(c *imap.SearchCriteria) mailbox.SearchSize {
	z := mailbox.SearchSize{TextKeys: len(c.Header) + len(c.Body) + len(c.Text)}
	z.Keys = z.TextKeys + len(c.SeqNum) + len(c.UID) + len(c.Flag) + len(c.NotFlag) + len(c.Not) + len(c.Or)
	for _, set := range []bool{!c.Since.IsZero(), !c.Before.IsZero(), !c.SentSince.IsZero(), !c.SentBefore.IsZero(),
		c.Larger > 0, c.Smaller > 0} {
		if set {
			z.Keys++
		}
	}
	for i := range c.Not {
		z.Add(searchSize(&c.Not[i]))
	}
	for i := range c.Or {
		z.Add(searchSize(&c.Or[i][0]))
		z.Add(searchSize(&c.Or[i][1]))
	}
	return z
}

// convertCriteria turns go-imap's criteria into the mailbox's,
// resolving sequence sets, '*' and '$' in the snapshot r.
func convertCriteria(r *mailbox.Reader, m *mapping, v *view, c *imap.SearchCriteria) (mailbox.Criteria, error) {
	out := mailbox.Criteria{
		Since: c.Since, Before: c.Before, SentSince: c.SentSince, SentBefore: c.SentBefore,
		Body: c.Body, Text: c.Text,
		Larger: c.Larger, Smaller: c.Smaller,
	}
	// \Recent is the session's, not stored (RECENT, NEW and OLD).
	for _, f := range c.Flag {
		if strings.EqualFold(string(f), string(flagRecent)) {
			out.UIDs = append(out.UIDs, v.recentSet())
		} else {
			out.Flags = append(out.Flags, string(f))
		}
	}
	for _, f := range c.NotFlag {
		if strings.EqualFold(string(f), string(flagRecent)) {
			out.Not = append(out.Not, mailbox.Criteria{UIDs: []mailbox.UIDSet{v.recentSet()}})
		} else {
			out.NotFlags = append(out.NotFlags, string(f))
		}
	}
	if c.ModSeq != nil {
		uids, err := modSeqUIDs(r, c.ModSeq.ModSeq)
		if err != nil {
			return out, err
		}
		out.UIDs = append(out.UIDs, uids)
	}
	for _, set := range c.SeqNum {
		uids, _, err := resolve(r, m, v, set, true)
		if err != nil {
			return out, err
		}
		out.UIDs = append(out.UIDs, uids)
	}
	for _, set := range c.UID {
		uids, _, err := resolve(r, m, v, set, true)
		if err != nil {
			return out, err
		}
		out.UIDs = append(out.UIDs, uids)
	}
	for _, h := range c.Header {
		if savedKey(&out, h) {
			continue
		}
		set, isID, err := objectIDKey(r, h)
		if err != nil {
			return out, err
		}
		if isID {
			out.UIDs = append(out.UIDs, set)
			continue
		}
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

// usesModSeq reports whether a search has a MODSEQ key anywhere.
func usesModSeq(c *imap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if usesModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if usesModSeq(&c.Or[i][0]) || usesModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}
