package imap

import (
	"bytes"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/sortthread"
	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// SORT, THREAD (RFC 5256) and ESORT (RFC 5267): the search runs as for
// SEARCH, then the messages it found are loaded from their stored
// envelopes and ordered by package sortthread.

// cmdSort answers SORT and UID SORT, as ESEARCH with RETURN (ESORT).
func (s *session) cmdSort(c *wire.Sort) (result, error) {
	criteria, err := sortCriteria(c.Charset, &c.Criteria)
	if err != nil {
		return result{}, err
	}
	keys := make([]sortthread.Criterion, len(c.Keys))
	for i, k := range c.Keys {
		key, ok := sortthread.ParseKey(k.Key)
		if !ok {
			return result{}, bad("Unknown sort key " + k.Key)
		}
		keys[i] = sortthread.Criterion{Key: key, Reverse: k.Reverse}
	}
	msgs, lost, err := s.sortCandidates(&criteria, false)
	s.tellsUpTo()
	if err != nil {
		return result{}, err
	}
	order, err := sortthread.Sort(msgs, keys)
	if err != nil {
		return result{}, bad(err.Error())
	}
	res := lostResult(c.UID, lost)
	nums := make([]uint32, len(order))
	for i, k := range order {
		nums[i] = msgs[k].Seq
		if c.UID {
			nums[i] = msgs[k].UID
		}
	}
	w := s.w
	if c.Return == nil {
		w.Untagged()
		w.Token("SORT")
		for _, n := range nums {
			w.SP()
			w.Number(n)
		}
		w.CRLF()
		return res, nil
	}
	ret := sortthread.ESortReturn{Min: c.Return.ReturnMin, Max: c.Return.ReturnMax, All: c.Return.ReturnAll, Count: c.Return.ReturnCount,
		Partial: partialOf(c.Partial)}
	s.writeESearchData(c.Tag, c.UID, ret, nums)
	if c.Update {
		uids := make([]uint32, len(order))
		for i, k := range order {
			uids[i] = msgs[k].UID
		}
		return res, s.startUpdate(c.Tag, c.UID, criteria, keys, uids, nums)
	}
	return res, nil
}

// cmdThread answers THREAD and UID THREAD.
func (s *session) cmdThread(c *wire.Thread) (result, error) {
	alg := imap.ThreadAlgorithm(c.Algorithm)
	if alg != imap.ThreadOrderedSubject && alg != imap.ThreadReferences {
		return result{}, bad("Unknown threading algorithm " + c.Algorithm)
	}
	criteria, err := sortCriteria(c.Charset, &c.Criteria)
	if err != nil {
		return result{}, err
	}
	msgs, lost, err := s.sortCandidates(&criteria, alg == imap.ThreadReferences)
	s.tellsUpTo()
	if err != nil {
		return result{}, err
	}
	threads, err := sortthread.Thread(alg, msgs)
	if err != nil {
		return result{}, bad(err.Error())
	}
	number := sortthread.BySeq(msgs)
	if c.UID {
		number = sortthread.ByUID(msgs)
	}
	w := s.w
	w.Untagged()
	w.Token("THREAD")
	if len(threads) > 0 {
		w.SP()
		w.Token(string(sortthread.AppendThreadLists(nil, threads, number)))
	}
	w.CRLF()
	return lostResult(c.UID, lost), nil
}

// sortCriteria checks a SORT's or THREAD's charset and search keys, as
// SEARCH does.
func sortCriteria(charset string, c *wire.SearchCriteria) (imap.SearchCriteria, error) {
	switch charset {
	case "", "UTF-8", "US-ASCII":
	default:
		return imap.SearchCriteria{}, no("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
	}
	criteria, ok := searchCriteria(c)
	if !ok {
		return imap.SearchCriteria{}, bad("Search key not supported")
	}
	return criteria, nil
}

// sortCandidates runs the search and loads what sorting and threading
// read of each message found, with the client's sequence numbers; lost
// is search's. References is read from the header only for THREAD
// REFERENCES.
func (s *session) sortCandidates(criteria *imap.SearchCriteria, references bool) (msgs []sortthread.Message, lost bool, err error) {
	v := s.view
	_, uids, lost, err := s.search(v, true, criteria, nil)
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := s.ctxWithin(s.srv.opts.SearchTimeout)
	defer cancel()
	err = s.eachMessage(ctx, v, uids, mailbox.WantStructure, 0, func(msg *mailbox.Message, seq uint32, _ bool) error {
		m := sortthread.Message{UID: msg.UID, Seq: seq, InternalDate: msg.InternalDate, Size: msg.Size}
		if e := msg.Envelope; e != nil {
			m.Date, m.Subject = e.Date, e.Subject
			m.From, m.To, m.Cc = firstAddress(e.From), firstAddress(e.To), firstAddress(e.Cc)
			if e.MessageID != "" {
				m.MessageID = "<" + e.MessageID + ">"
			}
			m.InReplyTo = msgIDs(e.InReplyTo)
		}
		if references {
			src := &source{svc: s.srv.svc, ctx: ctx, msg: msg}
			block, err := src.bodySection(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader,
				HeaderFields: []string{"References"}})
			if err != nil {
				return skipGone(err)
			}
			m.References = headerValue(block)
		}
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		return nil, false, s.fail("sort", err)
	}
	return msgs, lost, nil
}

func firstAddress(l []mailbox.EnvAddress) sortthread.Address {
	if len(l) == 0 {
		return sortthread.Address{}
	}
	return sortthread.Address{Name: l[0].Name, Mailbox: l[0].Mailbox, Host: l[0].Host}
}

// headerValue returns the values of the fields in a header block (as
// BODY[HEADER.FIELDS (...)] returns it), unfolded and joined by spaces.
func headerValue(block []byte) string {
	var out []string
	for _, line := range bytes.Split(block, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		switch {
		case len(line) == 0:
		case line[0] == ' ' || line[0] == '\t':
			out = append(out, string(bytes.TrimSpace(line)))
		default:
			if _, v, ok := bytes.Cut(line, []byte(":")); ok {
				out = append(out, string(bytes.TrimSpace(v)))
			}
		}
	}
	return strings.Join(out, " ")
}
