package imap

import (
	"cmp"
	"slices"

	"github.com/emersion/go-imap/v2"

	"pillarbox/mailbox"
)

// resolve turns a command's sequence set or UID set into the UIDs it
// names in the snapshot r, which the client sees through m.
//
// '*' is the largest number the client knows for sequence numbers, and
// the largest UID in the folder for UIDs (RFC 9051 6.4.8: "UID n:*" with
// n above it still names the last message). '$' is the saved search
// result (RFC 5182). A sequence number the client cannot know is an
// error (BAD), or, with pastEnd (SEARCH), names no message, so that
// "SEARCH 5:7" in a mailbox of 2 messages matches nothing and "SEARCH
// 1:7" matches both, as Dovecot answers; a message the client knows but
// that was expunged since is left out, and lost says so.
func resolve(r uidSource, m *mapping, v *view, set imap.NumSet, pastEnd bool) (uids mailbox.UIDSet, lost bool, err error) {
	if imap.IsSearchRes(set) {
		return slices.Clone(v.saved), false, nil
	}
	switch set := set.(type) {
	case imap.UIDSet:
		uids, err := uidRanges(set, r.MaxUID)
		return uids, false, err
	case imap.SeqSet:
		var client []mailbox.UIDRange // of client sequence numbers
		for _, rg := range set {
			lo, hi := rg.Start, rg.Stop
			if lo == 0 || hi == 0 {
				if m.known == 0 {
					continue
				}
				if lo == 0 {
					lo = m.known
				}
				if hi == 0 {
					hi = m.known
				}
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			if hi > m.known {
				if !pastEnd {
					return nil, false, bad("Invalid sequence number: the mailbox has fewer messages")
				}
				if lo > m.known {
					continue
				}
				hi = m.known
			}
			client = append(client, mailbox.UIDRange{Start: lo, Stop: hi})
		}
		client = normalize(client)
		snap := client
		if m.hasExpunges() {
			snap = nil
			for _, rg := range client {
				for c := rg.Start; ; c++ {
					if s := m.toSnapshot(c); s != 0 {
						snap = appendNum(snap, s)
					} else {
						lost = true
					}
					if c == rg.Stop {
						break
					}
				}
			}
		}
		var out []mailbox.UIDRange
		for _, rg := range snap {
			lo, err := r.UIDAt(rg.Start)
			if err != nil {
				return nil, false, err
			}
			hi, err := r.UIDAt(rg.Stop)
			if err != nil {
				return nil, false, err
			}
			if lo == 0 || hi == 0 {
				continue
			}
			out = append(out, mailbox.UIDRange{Start: lo, Stop: hi})
		}
		return normalize(out), lost, nil
	}
	return nil, false, bad("Invalid message set")
}

// uidSource maps positions to UIDs: a mailbox.Reader, or a box's UIDs.
type uidSource interface {
	UIDAt(seq uint32) (uint32, error)
	MaxUID() (uint32, error)
}

// memUIDs are a folder's UIDs in order, as a box keeps them.
type memUIDs []uint32

func (u memUIDs) UIDAt(seq uint32) (uint32, error) {
	if seq == 0 || int(seq) > len(u) {
		return 0, nil
	}
	return u[seq-1], nil
}

func (u memUIDs) MaxUID() (uint32, error) {
	if len(u) == 0 {
		return 0, nil
	}
	return u[len(u)-1], nil
}

// uidRanges turns a client's UID set into sorted disjoint ranges, '*'
// being the largest UID in the folder, which maxUID reads only when a
// '*' is there (RFC 9051 6.4.8: "UID n:*" with n above it still names the
// last message); '*' in an empty folder names nothing.
func uidRanges(set imap.UIDSet, maxUID func() (uint32, error)) (mailbox.UIDSet, error) {
	var top uint32
	haveTop := false
	var out []mailbox.UIDRange
	for _, rg := range set {
		lo, hi := uint32(rg.Start), uint32(rg.Stop)
		if lo == 0 || hi == 0 {
			if !haveTop {
				var err error
				if top, err = maxUID(); err != nil {
					return nil, err
				}
				haveTop = true
			}
			if top == 0 {
				continue
			}
			if lo == 0 {
				lo = top
			}
			if hi == 0 {
				hi = top
			}
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		out = append(out, mailbox.UIDRange{Start: lo, Stop: hi})
	}
	return normalize(out), nil
}

// normalize sorts ranges and merges those that overlap or touch.
func normalize(rs []mailbox.UIDRange) mailbox.UIDSet {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b mailbox.UIDRange) int { return cmp.Compare(a.Start, b.Start) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if uint64(r.Start) <= uint64(last.Stop)+1 {
			last.Stop = max(last.Stop, r.Stop)
			continue
		}
		out = append(out, r)
	}
	return out
}

// appendNum adds n, not below any number already in rs, to rs.
func appendNum(rs []mailbox.UIDRange, n uint32) []mailbox.UIDRange {
	if k := len(rs); k > 0 && rs[k-1].Stop+1 == n {
		rs[k-1].Stop = n
		return rs
	}
	return append(rs, mailbox.UIDRange{Start: n, Stop: n})
}

// toUIDSet converts to go-imap's type.
func toUIDSet(s mailbox.UIDSet) imap.UIDSet {
	out := make(imap.UIDSet, len(s))
	for i, r := range s {
		out[i] = imap.UIDRange{Start: imap.UID(r.Start), Stop: imap.UID(r.Stop)}
	}
	return out
}

// uidListSet turns ascending UIDs into a set.
func uidListSet(uids []uint32) imap.UIDSet {
	var rs []mailbox.UIDRange
	for _, u := range uids {
		rs = appendNum(rs, u)
	}
	return toUIDSet(rs)
}
