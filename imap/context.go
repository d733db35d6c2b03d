package imap

import (
	"slices"
	"strconv"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/sortthread"
	"pillarbox/imap/wire"
)

// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267): a SEARCH or SORT with
// RETURN (UPDATE) stays in force in the selected folder; when what it
// finds changes, the client gets ESEARCH ADDTO and REMOVEFROM with the
// positions in the result. Results are kept as UIDs; the numbers told are
// sequence numbers unless the command was UID SEARCH or UID SORT.

// maxUpdates bounds the searches a session keeps up to date.
const maxUpdates = 10

// update is one search kept up to date.
type update struct {
	tag      string
	uid      bool
	criteria imap.SearchCriteria
	keys     []sortthread.Criterion // SORT's keys; nil for SEARCH
	uids     []uint32               // the result, in its order
	nums     []uint32               // the numbers the client knows them by
}

// startUpdate records a search with RETURN (UPDATE) once its first
// answer is written.
func (s *session) startUpdate(tag string, uid bool, criteria imap.SearchCriteria, keys []sortthread.Criterion,
	uids, nums []uint32) error {
	if len(s.updates) >= maxUpdates {
		return no(imap.ResponseCode("NOUPDATE \""+tag+"\""), "Too many searches kept up to date")
	}
	s.updates = append(s.updates, &update{tag: tag, uid: uid, criteria: criteria, keys: keys, uids: uids, nums: nums})
	return nil
}

// cmdCancelUpdate ends searches kept up to date (RFC 5267 4.3).
func (s *session) cmdCancelUpdate(c *wire.CancelUpdate) (result, error) {
	for _, tag := range c.Tags {
		s.updates = slices.DeleteFunc(s.updates, func(u *update) bool { return u.tag == tag })
	}
	return result{}, nil
}

// expungedFromUpdates tells the updates of a message about to be told
// expunged (seq, its number before) with REMOVEFROM, and shifts the
// sequence numbers after it.
func (s *session) expungedFromUpdates(uid, seq uint32) {
	for _, u := range s.updates {
		if i := slices.Index(u.uids, uid); i >= 0 {
			num := uid
			if !u.uid {
				num = seq
			}
			s.writeContext(u, "REMOVEFROM", []int{i}, []uint32{num})
			u.uids = slices.Delete(u.uids, i, i+1)
			u.nums = slices.Delete(u.nums, i, i+1)
		}
		if !u.uid {
			for i, n := range u.nums {
				if n > seq {
					u.nums[i] = n - 1
				}
			}
		}
	}
}

// refreshUpdates runs the searches kept up to date again and tells what
// came into their results or left them.
func (s *session) refreshUpdates() error {
	for _, u := range s.updates {
		uids, nums, err := s.runUpdate(u)
		if err != nil {
			return err
		}
		var gone []int // positions in the old result
		var goneNums []uint32
		for i, id := range u.uids {
			if !slices.Contains(uids, id) {
				gone = append(gone, i)
				goneNums = append(goneNums, u.nums[i])
			}
		}
		if len(gone) > 0 {
			s.writeContext(u, "REMOVEFROM", gone, goneNums)
		}
		var added []int // positions in the new result
		var addedNums []uint32
		for i, id := range uids {
			if !slices.Contains(u.uids, id) {
				added = append(added, i)
				addedNums = append(addedNums, nums[i])
			}
		}
		if len(added) > 0 {
			s.writeContext(u, "ADDTO", added, addedNums)
		}
		u.uids, u.nums = uids, nums
	}
	return nil
}

// runUpdate runs an update's search (and sort) as the client sees the
// folder now.
func (s *session) runUpdate(u *update) (uids, nums []uint32, err error) {
	if u.keys != nil {
		msgs, _, err := s.sortCandidates(&u.criteria, false)
		if err != nil {
			return nil, nil, err
		}
		order, err := sortthread.Sort(msgs, u.keys)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range order {
			uids = append(uids, msgs[k].UID)
			nums = append(nums, pick(u.uid, msgs[k].UID, msgs[k].Seq))
		}
		return uids, nums, nil
	}
	data, set, _, err := s.search(s.view, u.uid, &u.criteria, nil)
	if err != nil {
		return nil, nil, err
	}
	return uidList(set), numbers(data.All), nil
}

func pick(byUID bool, uid, seq uint32) uint32 {
	if byUID {
		return uid
	}
	return seq
}

// writeContext writes ESEARCH ADDTO or REMOVEFROM (RFC 5267 4.3): for a
// SORT, each message with its 1-based position; for a SEARCH, whose
// order is the numbers', runs of them after the position of the first.
func (s *session) writeContext(u *update, what string, positions []int, nums []uint32) {
	w := s.w
	s.esearchHead(u.tag, u.uid)
	w.Token(" " + what + " (")
	if u.keys != nil {
		for i, p := range positions {
			if i > 0 {
				w.SP()
			}
			w.Token(strconv.Itoa(p+1) + " ")
			w.Number(nums[i])
		}
	} else {
		w.Token(strconv.Itoa(positions[0]+1) + " ")
		w.Token(string(sortthread.AppendOrderedSet(nil, nums)))
	}
	w.Token(")")
	w.CRLF()
}

// partialOf converts the parser's PARTIAL range.
func partialOf(p *wire.Partial) *sortthread.PartialRange {
	if p == nil {
		return nil
	}
	return &sortthread.PartialRange{First: p.First, Last: p.Last}
}
