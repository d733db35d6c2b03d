package imap

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// CONDSTORE and QRESYNC (RFC 7162). The store gives every change of a
// folder a MODSEQ and keeps HIGHESTMODSEQ and the UIDs expunged since a
// MODSEQ (mailbox/resync.go); this file turns them into responses.

// condStoreOn turns CONDSTORE on: by ENABLE, SELECT (CONDSTORE), or the
// first command that uses a MODSEQ (RFC 7162 3.1). In a selected folder
// the client learns HIGHESTMODSEQ at once (3.1.2.1... the "CONDSTORE
// enabling command" rule).
func (s *session) condStoreOn() error {
	if s.enabled.condstore {
		return nil
	}
	s.enabled.condstore = true
	if s.view == nil {
		return nil
	}
	hms, err := s.highestModSeq()
	if err != nil {
		return s.fail("condstore", err)
	}
	s.w.StatusResponse("", wire.OK, "HIGHESTMODSEQ "+strconv.FormatUint(hms, 10), "Highest")
	return nil
}

// highestModSeq reads the selected folder's HIGHESTMODSEQ.
func (s *session) highestModSeq() (uint64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var hms uint64
	err := s.srv.svc.ReadMailbox(ctx, s.view.folder.ID, nil, func(r *mailbox.Reader) error {
		hms = r.HighestModSeq()
		return nil
	})
	return hms, err
}

// qresync answers SELECT (QRESYNC (...)) once the folder is selected
// (RFC 7162 3.2.5): the UIDs expunged since the client's MODSEQ in
// VANISHED (EARLIER), then the messages changed since, limited to the
// UIDs the client says it knows. A UIDVALIDITY that changed makes all of
// it moot: the client starts over.
func (s *session) qresync(q *wire.QResync) error {
	v := s.view
	if q.UIDValidity != v.folder.UIDValidity {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var gone, all mailbox.UIDSet
	err := s.srv.svc.ReadMailbox(ctx, v.folder.ID, nil, func(r *mailbox.Reader) error {
		maxUID := r.Folder().UIDNext - 1
		all = mailbox.UIDSet{{Start: 1, Stop: max(maxUID, 1)}}
		if q.KnownUIDs != nil {
			known, err := uidRanges(q.KnownUIDs, func() (uint32, error) { return maxUID, nil })
			if err != nil {
				return err
			}
			all = all.Intersect(known)
		}
		vanished, _, err := r.VanishedSince(q.ModSeq)
		if err != nil {
			return err
		}
		gone = vanished.Intersect(all)
		return nil
	})
	if err != nil {
		return s.fail("select", err)
	}
	s.writeVanished(gone, true)
	done, err := s.writeChangedFew(ctx, all, q.ModSeq)
	if err != nil || done {
		return err
	}
	f := &fetchItems{changedSince: q.ModSeq, hasChangedSince: true}
	f.UID, f.Flags, f.ModSeq = true, true, true
	return s.fetchUIDs(ctx, v, all, f)
}

// fewChanges is how many changed messages writeChangedFew reports from
// the MODSEQ index; with more, reading the folder in order is cheaper.
const fewChanges = 256

// writeChangedFew writes FETCH (UID FLAGS MODSEQ) for the messages in set
// changed since modseq, read from the MODSEQ index: a client that was
// away briefly costs as much as what changed, not as much as the folder.
// It reports false, having written nothing, when more than fewChanges
// changed.
func (s *session) writeChangedFew(ctx context.Context, set mailbox.UIDSet, modseq uint64) (bool, error) {
	type changed struct {
		mailbox.ChangedMessage
		seq uint32
	}
	var out []changed
	errMany := errors.New("many")
	err := s.read(ctx, s.view, func(r *mailbox.Reader, m *mapping) error {
		out = out[:0]
		for _, rg := range set {
			err := r.ChangedSince(modseq, rg.Start, rg.Stop, func(c mailbox.ChangedMessage) error {
				if len(out) == fewChanges {
					return errMany
				}
				out = append(out, changed{ChangedMessage: c})
				return nil
			})
			if err != nil {
				return err
			}
		}
		for i := range out {
			below, err := r.CountBelow(out[i].UID)
			if err != nil {
				return err
			}
			out[i].seq = m.toClient(below + 1)
		}
		return nil
	})
	if errors.Is(err, errMany) {
		return false, nil
	}
	if err != nil {
		return false, s.fail("select", err)
	}
	for _, c := range out {
		if c.seq == 0 {
			continue
		}
		s.writeFlagsFetch(c.seq, c.UID, flagsOf(c.Flags), c.ModSeq)
	}
	return true, nil
}

// writeVanished writes VANISHED (RFC 7162 3.2.10), with (EARLIER) for
// UIDs expunged before this session was told of them.
func (s *session) writeVanished(uids mailbox.UIDSet, earlier bool) {
	if len(uids) == 0 {
		return
	}
	w := s.w
	w.Untagged()
	w.Token("VANISHED ")
	if earlier {
		w.Token("(EARLIER) ")
	}
	w.NumSet(toUIDSet(uids))
	w.CRLF()
}

// fetchVanished answers the VANISHED modifier of UID FETCH (RFC 7162
// 3.2.6): the UIDs of the set expunged since CHANGEDSINCE, before the
// FETCH responses.
func (s *session) fetchVanished(ctx context.Context, set mailbox.UIDSet, since uint64) error {
	var gone mailbox.UIDSet
	err := s.srv.svc.ReadMailbox(ctx, s.view.folder.ID, nil, func(r *mailbox.Reader) error {
		vanished, _, err := r.VanishedSince(since)
		gone = vanished.Intersect(set)
		return err
	})
	if err != nil {
		return err
	}
	s.writeVanished(gone, true)
	return nil
}

// modifiedCode is the MODIFIED response code of a STORE ...
// (UNCHANGEDSINCE) that left messages alone (RFC 7162 3.1.3), with
// sequence numbers unless the command was UID STORE.
func (s *session) modifiedCode(ctx context.Context, uids []uint32, byUID bool) (string, error) {
	nums := uids
	if !byUID {
		nums = nil
		err := s.read(ctx, s.view, func(r *mailbox.Reader, m *mapping) error {
			for _, u := range uids {
				below, err := r.CountBelow(u)
				if err != nil {
					return err
				}
				if seq := m.toClient(below + 1); seq != 0 {
					nums = append(nums, seq)
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	var b strings.Builder
	b.WriteString("MODIFIED ")
	writeUIDs(&b, nums)
	return b.String(), nil
}

// searchModSeq is the MODSEQ a SEARCH with a MODSEQ key answers with
// (RFC 7162 3.1.5, and 3.1.10 for ESEARCH): the highest MODSEQ of the
// messages it returns, those of MIN and MAX alone when only they are
// asked for.
func searchModSeq(r *mailbox.Reader, uids mailbox.UIDSet, minUID, maxUID uint32, o *imap.SearchOptions) (uint64, error) {
	if o != nil && !o.ReturnAll && !o.ReturnCount && (o.ReturnMin || o.ReturnMax) {
		var only []mailbox.UIDRange
		if o.ReturnMin {
			only = append(only, mailbox.UIDRange{Start: minUID, Stop: minUID})
		}
		if o.ReturnMax {
			only = append(only, mailbox.UIDRange{Start: maxUID, Stop: maxUID})
		}
		uids = normalize(only)
	}
	var top uint64
	for _, rg := range uids {
		err := r.ChangedSince(0, rg.Start, rg.Stop, func(c mailbox.ChangedMessage) error {
			top = max(top, c.ModSeq)
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return top, nil
}

// modSeqUIDs returns the UIDs of the messages whose MODSEQ is at least
// modseq: the SEARCH key MODSEQ (RFC 7162 3.1.5).
func modSeqUIDs(r *mailbox.Reader, modseq uint64) (mailbox.UIDSet, error) {
	var out []mailbox.UIDRange
	err := r.ChangedSince(max(modseq, 1)-1, 1, 1<<32-1, func(c mailbox.ChangedMessage) error {
		out = appendNum(out, c.UID)
		return nil
	})
	if out == nil {
		out = mailbox.UIDSet{} // matches nothing
	}
	return out, err
}
