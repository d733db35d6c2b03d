package mailbox

import (
	"context"

	"pillarbox/store"
)

// What a client resynchronising with CONDSTORE and QRESYNC (RFC 7162)
// reads: the messages whose MODSEQ passed its own, and the UIDs expunged
// since. Both read the Reader's snapshot, so they agree with each other
// and with the folder's HIGHESTMODSEQ and UIDNEXT as the snapshot saw
// them. The expunged UIDs are remembered by the store in the transaction
// that removes the messages; PruneVanished bounds them.

// DefaultVanishedKeep is how many expunged UIDs a folder remembers when
// Options.VanishedKeep is zero: far more than a client that syncs now
// and then ever misses, and at most a few MB per folder.
const DefaultVanishedKeep = 100_000

// vanishedPruneBatch bounds the rows one pruning transaction forgets, so
// that a backlog never makes one write long.
const vanishedPruneBatch = 5000

// ChangedMessage is a message whose MODSEQ passed the one a client gave.
type ChangedMessage struct {
	UID    uint32
	ModSeq uint64
	Flags  []string // system flags then keywords; shared: do not modify
}

// HighestModSeq returns the folder's HIGHESTMODSEQ as of the snapshot
// (RFC 7162 3.1.1): every change to the folder, flags, additions and
// expunges, raises it, and it never goes back.
func (r *Reader) HighestModSeq() uint64 { return r.highestModSeq }

// ChangedSince calls fn, in UID order, with each message with a UID in
// [lo, hi] whose MODSEQ is above modseq: what FETCH ... (CHANGEDSINCE
// modseq) and SELECT (QRESYNC ...) report (RFC 7162 3.1.4, 3.2.5). The
// caller maps UIDs to sequence numbers. An error from fn stops the walk
// and is returned.
func (r *Reader) ChangedSince(modseq uint64, lo, hi uint32, fn func(ChangedMessage) error) error {
	return r.snap.ChangedSince(r.ctx, r.folder.ID, modseq, lo, hi, func(c store.Changed) error {
		return fn(ChangedMessage{UID: c.UID, ModSeq: c.ModSeq, Flags: flagNames(c.Flags, c.Keywords)})
	})
}

// VanishedSince returns the UIDs expunged from the folder since modseq,
// for VANISHED (EARLIER) (RFC 7162 3.2.5, 3.2.10). When the folder no
// longer remembers every expunge after modseq (the client has been away
// longer than the folder keeps them, or since before this server
// recorded them), floorExceeded is true and the set holds every UID
// below UIDNEXT that is not in the folder: a superset of what the client
// missed, whose extra UIDs it does not have; the caller may narrow it to
// the UIDs the client says it knows (the known-uids of SELECT (QRESYNC
// ...)).
func (r *Reader) VanishedSince(modseq uint64) (uids UIDSet, floorExceeded bool, err error) {
	rs, exceeded, err := r.snap.VanishedSince(r.ctx, r.folder.ID, modseq)
	if err != nil {
		return nil, false, err
	}
	return UIDSet(rs), exceeded, nil
}

// PruneVanished forgets the oldest expunged UIDs of every folder that
// remembers more than Options.VanishedKeep, raising the folder's floor
// past them (see Reader.VanishedSince), and returns how many it forgot.
// Serve calls it now and then, off the delivery path; it runs in short
// write transactions.
func (s *Service) PruneVanished(ctx context.Context) (int64, error) {
	ids, err := s.db.VanishedOverflow(ctx, s.vanishedKeep)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, id := range ids {
		for {
			var n int64
			err := s.write(ctx, func(tx store.Tx) error {
				var err error
				n, err = tx.PruneVanished(id, s.vanishedKeep, vanishedPruneBatch)
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
			if n < vanishedPruneBatch {
				break
			}
		}
	}
	return total, nil
}

// Intersect returns the UIDs in both s and t, as sorted disjoint ranges:
// how a caller narrows VanishedSince's answer to the UIDs a command
// names (UID FETCH ... (VANISHED)) or the client knows (the known-uids
// of SELECT (QRESYNC ...), RFC 7162 3.2.5). Both sets must be sorted and
// disjoint.
func (s UIDSet) Intersect(t UIDSet) UIDSet {
	var out UIDSet
	for i, j := 0, 0; i < len(s) && j < len(t); {
		lo, hi := max(s[i].Start, t[j].Start), min(s[i].Stop, t[j].Stop)
		if lo <= hi {
			out = append(out, UIDRange{Start: lo, Stop: hi})
		}
		// Drop the range that ends first: it meets nothing further on.
		if s[i].Stop < t[j].Stop {
			i++
		} else {
			j++
		}
	}
	return out
}

// BackfillHeaders stores the decoded header text of the messages stored
// before the store kept it (store migration 18), so that header searches
// of old mail stop decoding it; it returns how many it stored. Serve runs
// it once at start, off the delivery path.
func (s *Service) BackfillHeaders(ctx context.Context) (int, error) {
	return s.db.BackfillHeaders(ctx)
}

// ReindexText indexes the words of the part headers of the messages
// stored before SEARCH TEXT read them (store migration 25), and returns
// how many messages it took. Serve runs it once at start, off the
// delivery path.
func (s *Service) ReindexText(ctx context.Context) (int, error) {
	return s.db.ReindexText(ctx)
}
