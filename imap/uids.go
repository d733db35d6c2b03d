package imap

import "slices"

// A selected folder's UIDs are kept in memory by its box, shared by every
// session that has it selected, so that sequence numbers map to UIDs
// without a query: SQLite can only count positions by walking its index.

// uidAddedLocked appends a new message's UID. It runs under b.mu.
func (b *box) uidAddedLocked(uid uint32) {
	if b.uids == nil {
		return
	}
	if n := len(b.uids); n > 0 && b.uids[n-1] >= uid {
		b.uids = nil // UIDs only grow (RFC 9051 2.3.1.1): start over
		return
	}
	if len(b.uids) == cap(b.uids) {
		grown := make([]uint32, len(b.uids), 2*len(b.uids)+64)
		copy(grown, b.uids)
		b.uids, b.uidsLent = grown, false
	}
	// Past the length every reader was given: none of them sees it.
	b.uids = append(b.uids, uid)
}

// uidExpungedLocked removes the UID at position seq. It runs under b.mu.
func (b *box) uidExpungedLocked(seq, uid uint32) {
	if b.uids == nil {
		return
	}
	if seq == 0 || int(seq) > len(b.uids) || b.uids[seq-1] != uid {
		b.uids = nil // out of step with the store: load them again
		return
	}
	if b.uidsLent {
		// A reader holds this array: the change goes to a copy.
		b.uids, b.uidsLent = slices.Delete(slices.Clone(b.uids), int(seq-1), int(seq)), false
		return
	}
	b.uids = slices.Delete(b.uids, int(seq-1), int(seq))
}

// installUIDs gives the box the UIDs a reader loaded from its snapshot,
// taken at version, brought up to date with the changes since. uids
// itself stays the reader's.
func (v *view) installUIDs(uids []uint32, version uint64) {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.uids != nil || b.gone || v.dropped || version < b.base || version > b.version() {
		return
	}
	own := make([]uint32, len(uids), len(uids)+len(uids)/8+64)
	copy(own, uids)
	b.uids, b.uidsLent = own, false
	for _, e := range b.log[version-b.base:] {
		switch e.kind {
		case eventAdded:
			b.uidAddedLocked(e.uid)
		case eventExpunged:
			b.uidExpungedLocked(e.n, e.uid)
		}
	}
	if b.uids != nil && uint32(len(b.uids)) != b.count {
		b.uids = nil
	}
}

// forgetUIDs drops the box's UIDs, for the next read to load them again.
func (v *view) forgetUIDs() {
	v.box.mu.Lock()
	defer v.box.mu.Unlock()
	v.box.uids = nil
}

// noteShown records that a command's FETCH showed the client a message's
// flags as of MODSEQ modSeq while changes to it were still to be told.
func (v *view) noteShown(uid uint32, modSeq uint64) {
	if v.shown == nil {
		v.shown = make(map[uint32]uint64)
	}
	v.shown[uid] = max(v.shown[uid], modSeq)
}
