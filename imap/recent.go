package imap

import (
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

// recentFloor returns the lowest UID still \Recent in a folder, for
// STATUS RECENT; ok is false when nothing is.
func (h *hub) recentFloor(folder int64) (uint32, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.recent[folder]
	return f, ok
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
