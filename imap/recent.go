package imap

import (
	"context"
	"slices"

	"github.com/emersion/go-imap/v2"

	"pillarbox/mailbox"
)

// \Recent (RFC 3501 2.3.2): a message is recent in exactly one session,
// the first to have the folder selected read-write since it came.
// IMAP4rev2 dropped the flag (RFC 9051 appendix E), so only IMAP4rev1
// sessions see it; mutt, for one, relies on it.

// recentOwnerLocked picks the view an added message is \Recent for: the
// session that added it if it has the folder selected read-write, else
// any such session; nil if none. It runs under b.mu.
func (b *box) recentOwnerLocked(origin any) *view {
	if v, ok := origin.(*view); ok && v.box == b && !v.readOnly && !v.dropped {
		return v
	}
	var pick *view
	for v := range b.views {
		if !v.readOnly && !v.dropped && (pick == nil || v.seq < pick.seq) {
			pick = v
		}
	}
	return pick
}

// isRecent reports whether uid is \Recent in this session.
func (v *view) isRecent(uid uint32) bool {
	if v.recentTo != 0 && uid >= v.recentFrom && uid <= v.recentTo {
		return true
	}
	for _, u := range v.recentAdded {
		if u == uid {
			return true
		}
	}
	return false
}

// addRecent records a message that came while the session had the folder
// selected (pollView).
func (v *view) addRecent(e *event) bool {
	if e.recentFor == v || e.recentFor == nil && v.readOnly {
		v.recentAdded = append(v.recentAdded, e.uid)
		v.recentCount++
		return true
	}
	return false
}

// dropRecent forgets an expunged message.
func (v *view) dropRecent(uid uint32) {
	if !v.isRecent(uid) {
		return
	}
	v.recentCount--
	for i, u := range v.recentAdded {
		if u == uid {
			v.recentAdded = append(v.recentAdded[:i], v.recentAdded[i+1:]...)
			return
		}
	}
}

// recentSet returns the session's \Recent messages as a UID set, for
// SEARCH RECENT.
func (v *view) recentSet() mailbox.UIDSet {
	var rs []mailbox.UIDRange
	if v.recentTo != 0 {
		rs = append(rs, mailbox.UIDRange{Start: v.recentFrom, Stop: v.recentTo})
	}
	for _, u := range v.recentAdded {
		rs = append(rs, mailbox.UIDRange{Start: u, Stop: u})
	}
	return normalize(rs)
}

// recentFloor returns the lowest UID still \Recent in a folder, as read
// in f: the store's claims (f.RecentUID), or this node's when it gave
// later messages to its sessions.
func (h *hub) recentFloor(f mailbox.Folder) uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recentFloorLocked(f)
}

// recentFloorLocked is recentFloor with the hub's lock held.
func (h *hub) recentFloorLocked(f mailbox.Folder) uint32 {
	return max(f.RecentUID, h.recent[f.ID])
}

// claimRecent claims a folder's \Recent messages in the store for a
// session that selects it read-write, and returns them as a range of
// UIDs (to is 0 when there are none). f is the folder as just read:
// when it has nothing unclaimed the store is not written.
func (s *session) claimRecent(ctx context.Context, f mailbox.Folder) (from, to uint32, err error) {
	h := s.srv.hub
	h.mu.Lock()
	given := h.recent[f.ID]
	h.mu.Unlock()
	if max(f.RecentUID, given) >= f.UIDNext {
		return 0, 0, nil
	}
	first, next, err := s.srv.svc.ClaimRecent(ctx, f.ID, given)
	if err != nil {
		return 0, 0, err
	}
	h.mu.Lock()
	h.recent[f.ID] = max(h.recent[f.ID], next)
	h.mu.Unlock()
	if first >= next {
		return 0, 0, nil
	}
	return first, next - 1, nil
}

// withRecent adds \Recent to a message's flags where the session shows
// it (IMAP4rev1 only).
func (s *session) withRecent(flags []imap.Flag, uid uint32) []imap.Flag {
	if s.enabled.rev2 || s.view == nil || !s.view.isRecent(uid) {
		return flags
	}
	return append(slices.Clip(flags), flagRecent)
}

// flagRecent is the \Recent flag, which go-imap v2 no longer names.
const flagRecent imap.Flag = `\Recent`

// TakesRecent implements mailbox.RecentTaker: a message added now would
// be \Recent to a session that has the folder selected read-write, and
// the write that adds it claims it in the store.
func (h *hub) TakesRecent(id int64) bool {
	h.mu.Lock()
	b := h.boxes[id]
	h.mu.Unlock()
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recentOwnerLocked(nil) != nil
}
