package imap

import (
	"slices"

	"pillarbox/mailbox"
)

// Kept rows.
//
// A box keeps the stored rows (UID, MODSEQ, flags, dates, size, stored
// message) of the messages its sessions' FETCHes read, and keeps them as
// the committed changes leave them: a flag change replaces the row's
// flags and MODSEQ, an expunge removes the row. When the store is this
// node's alone, the box's state is the committed state at every moment
// (each commit is announced under the folder's lock before anyone reads
// past it), so a FETCH of messages whose rows the box keeps, and whose
// envelope and structure the Service keeps where asked for, is answered
// without a snapshot: no read transaction, no query. That is most of a
// mail app's FETCHes, which ask again for what it just listed or what
// was just delivered. A new message's row comes with its announcement
// (mailbox.Change.Row), and its envelope and structure are in the
// Service's cache from its delivery or APPEND. A store that other nodes
// share changes under the box: every FETCH there reads its snapshot.

// maxKeptRows bounds the rows a box keeps, about 150 octets each (a
// folder's box is shared by the sessions that have it selected); past it
// the box starts again with what was read last.
const maxKeptRows = 1024

// maxKeptFetch is the most messages a FETCH answers from kept rows, and
// the largest batch whose rows are kept: a FETCH of a whole large folder
// reads it in batches, as before, and leaves the kept rows alone.
const maxKeptFetch = 256

// rowFlagsLocked applies a committed flag change to the kept row.
func (b *box) rowFlagsLocked(uid uint32, modSeq uint64, flags []string) {
	r, ok := b.rows[uid]
	if !ok {
		return
	}
	r.ModSeq, r.Flags = modSeq, flags
	b.rows[uid] = r
}

// keepAddedLocked keeps the row of a message just added, which its
// writer announced with it: new mail is what a mail app fetches next.
func (b *box) keepAddedLocked(row *mailbox.Message) {
	if row != nil {
		b.keepLocked([]mailbox.Message{*row})
	}
}

// keepRows keeps the rows of msgs, read whole (mailbox.WantRow or more)
// in a snapshot taken when the box was at version: only if no change has
// come since, which would have to be applied to them.
func (b *box) keepRows(version uint64, msgs []mailbox.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gone || b.version() != version || len(msgs) == 0 || len(msgs) > maxKeptFetch {
		return
	}
	b.keepLocked(msgs)
}

// keepLocked keeps the rows of msgs, without what a read adds to them
// (sequence number, envelope, structure, body); past maxKeptRows the box
// starts again with them alone.
func (b *box) keepLocked(msgs []mailbox.Message) {
	if b.rows == nil || len(b.rows)+len(msgs) > maxKeptRows {
		b.rows = make(map[uint32]mailbox.Message, len(msgs))
	}
	for _, r := range msgs {
		r.Seq, r.Envelope, r.Structure, r.Body = 0, nil, nil, nil
		b.rows[r.UID] = r
	}
}

// keptMessages returns, for the messages with a UID in set, their kept
// rows with their stored sequence numbers, and the mapping of that same
// moment; false if the box lacks the UIDs or a row, or the set holds
// more than maxKeptFetch messages or ranges.
func (v *view) keptMessages(set mailbox.UIDSet) (mapping, []mailbox.Message, bool) {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rows == nil || b.uids == nil || b.gone || v.dropped || len(set) > maxKeptFetch {
		// A set of more ranges is not worth the box's lock, which the
		// store's writer takes to announce.
		return mapping{}, nil, false
	}
	// The positions of each range's messages, and their number.
	type span struct{ lo, hi int }
	spans := make([]span, 0, len(set))
	n := 0
	for _, rg := range set {
		lo, _ := slices.BinarySearch(b.uids, rg.Start)
		hi, found := slices.BinarySearch(b.uids, rg.Stop)
		if found {
			hi++
		}
		hi = max(hi, lo) // a range the wrong way round holds nothing
		if n += hi - lo; n > maxKeptFetch {
			return mapping{}, nil, false
		}
		spans = append(spans, span{lo, hi})
	}
	msgs := make([]mailbox.Message, 0, n)
	for _, sp := range spans {
		for i := sp.lo; i < sp.hi; i++ {
			r, ok := b.rows[b.uids[i]]
			if !ok {
				return mapping{}, nil, false
			}
			r.Seq = uint32(i + 1)
			msgs = append(msgs, r)
		}
	}
	return v.captureLocked(), msgs, true
}

// eachKept is eachMessage from the box's kept rows, with the envelope and
// structure the Service keeps when want asks for them; false, having
// called nothing, when some message is not kept.
func (s *session) eachKept(v *view, set mailbox.UIDSet, want mailbox.Want,
	fn func(msg *mailbox.Message, seq uint32, flagsPending bool) error) (bool, error) {
	m, msgs, ok := v.keptMessages(set)
	if !ok {
		return false, nil
	}
	if want >= mailbox.WantStructure {
		for i := range msgs {
			env, st, ok := s.srv.svc.CachedMeta(msgs[i].BlobID)
			if !ok {
				return false, nil
			}
			msgs[i].Envelope, msgs[i].Structure = env, st
		}
	}
	// What the rows tell depends on the folder's commits up to now, as
	// what a locked read of it sees does (mailbox.Service.ReadMailbox).
	s.owed.Note(s.srv.svc.FolderCommit(v.folder.ID))
	return true, m.eachKnown(msgs, fn)
}
