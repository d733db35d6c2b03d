package imap

import (
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"pillarbox/mailbox"
)

// The trackers.
//
// Every folder that some session has selected has a box, whose message
// count is the stored count: the hub, a mailbox.Listener, appends to the
// box's log every committed change, in commit order, while the folder's
// lock is held. The changes are numbered by a version, and each view (a
// session's use of a box) records up to which version its client has been
// told, which is also what it needs to turn its client's sequence numbers
// into the stored ones and back, and to know the largest number its
// client knows ('*'). A session writes the changes it has not been told
// at the end of each command, or at once in IDLE (view.poll).

// hub holds the boxes of the selected folders.
type hub struct {
	svc *mailbox.Service
	log *slog.Logger

	mu    sync.Mutex
	boxes map[int64]*box
	// recent holds, per folder, the lowest UID that this node has not
	// given to a session as \Recent (RFC 3501 2.3.2): the store's claims
	// (mailbox.Folder.RecentUID) as this node made them, and past them
	// the messages that came while a session had the folder selected
	// read-write. The floor is the higher of the two.
	recent map[int64]uint32
	views  uint64 // views made so far, which numbers them
	// limit is how many changes a box keeps for its slowest view
	// (maxUnreported); tests set it small before serving.
	limit int

	watch watchers // NOTIFY registrations (notify.go)

	// ownsStore: a new message's row is the stored one, worth keeping
	// (Server.ownsStore); on a shared store FETCH reads rows anyway.
	ownsStore bool
}

func newHub(svc *mailbox.Service, log *slog.Logger) *hub {
	return &hub{svc: svc, log: log, boxes: make(map[int64]*box), recent: make(map[int64]uint32), limit: maxUnreported,
		watch: watchers{byBox: make(map[int64]map[*notifier]notifyEvents), byAccount: make(map[int64]map[*notifier]struct{})}}
}

// event is a committed change of a box.
type event struct {
	kind eventKind
	// n is, for an expunge, the sequence number removed; for an
	// addition, the count after it; for a flag change, the message's
	// sequence number.
	n      uint32
	uid    uint32
	modSeq uint64
	flags  []imap.Flag // a flag change: the message's flags; eventFolderFlags: FLAGS
	origin *view       // the view whose session made a flag change
	// recentFor is the view for which an added message is \Recent:
	// the session that made it, or else one with the folder selected
	// read-write; nil when only EXAMINE views had it open.
	recentFor *view
}

type eventKind uint8

const (
	eventAdded eventKind = iota
	eventExpunged
	eventFlags
	eventFolderFlags // a new keyword: FLAGS lists it
)

func (e *event) moves() bool { return e.kind == eventAdded || e.kind == eventExpunged }

// box is the shared state of one selected folder.
type box struct {
	id int64

	mu    sync.Mutex // held by MailboxChanged while it appends to the log
	count uint32     // the stored number of messages
	base  uint64     // version of the change before log[0]
	log   []event
	trim  int // trim log when it grows this long
	limit int // the most changes kept for the slowest view (hub.limit)
	// most is the largest number of messages the folder had while the
	// box lived: one command changes at most that many (a STORE 1:*, an
	// EXPUNGE or MOVE of everything), so twice it is never too few to
	// keep, whatever limit says (capLocked).
	most  uint32
	views map[*view]struct{}
	gone  bool // the folder was deleted, or its state was lost
	// lost says gone came from mailbox.ChangeLost: another node changed
	// the folder more than can be told change by change.
	lost bool
	// uids are the stored UIDs in order (count of them), once a read
	// loaded them (installUIDs); nil before, or after they went wrong.
	// Readers get them as they were at their snapshot (capture), so the
	// array a reader holds is never changed under it: an added UID goes
	// past every reader's length, and an expunge copies the array if a
	// reader was given it (uidsLent).
	uids     []uint32
	uidsLent bool
	// keywords are the folder's keywords its sessions were told of in
	// FLAGS (at SELECT, or since): a flag change that brings a new one
	// announces the whole list again first (RFC 9051 7.3.5).
	keywords map[string]string // by lower case, as first spelled
	// rows are stored rows of some of the folder's messages, as the
	// committed changes left them (rowcache.go); nil when none are kept.
	rows map[uint32]mailbox.Message
}

// knowKeywords adds a SELECT's keywords to what the box's sessions know.
func (b *box) knowKeywords(kws []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range kws {
		if l := strings.ToLower(k); b.keywords[l] == "" {
			b.keywords[l] = k
		}
	}
}

// noteKeywordsLocked adds the keywords among flags to the box's, and
// reports whether one was new.
func (b *box) noteKeywordsLocked(flags []string) bool {
	fresh := false
	for _, f := range flags {
		if l := strings.ToLower(f); !strings.HasPrefix(l, `\`) && b.keywords[l] == "" {
			b.keywords[l] = f
			fresh = true
		}
	}
	return fresh
}

// mailboxFlagsLocked returns FLAGS: the system flags and the keywords.
func (b *box) mailboxFlagsLocked() []imap.Flag {
	out := append([]imap.Flag(nil), systemFlags...)
	kws := make([]string, 0, len(b.keywords))
	for _, k := range b.keywords {
		kws = append(kws, k)
	}
	slices.Sort(kws)
	for _, k := range kws {
		out = append(out, imap.Flag(k))
	}
	return out
}

// version is the version of the last change.
func (b *box) version() uint64 { return b.base + uint64(len(b.log)) }

// view is one session's use of a selected box.
type view struct {
	box      *box
	hub      *hub
	folder   mailbox.Folder
	readOnly bool
	notify   chan struct{} // a change was queued (IDLE waits on it)

	// Guarded by box.mu for writes; read freely by the session.
	applied uint64 // the client has been told the changes up to this version
	known   uint32 // the number of messages the client knows
	// dropped is set, under box.mu, when the view fell more than the
	// box's limit behind: the log no longer holds what it was not told,
	// so applied must not index it again (see trimLocked).
	dropped bool
	// bye ends the session when the view is dropped. It runs under
	// box.mu, on the store's writer at times, so it must not block.
	bye func()

	// shown is, for messages with flag changes the client was not yet
	// told of, the newest MODSEQ a command's FETCH showed it: a poll
	// writes no older change of them (the client would see its flags and
	// MODSEQ go back). Used by the session's goroutine only; emptied once
	// a poll tells everything.
	shown map[uint32]uint64

	// marked: the session marked a message \Deleted since its last
	// EXPUNGE here, so EXPUNGE writes without reading first whether
	// there is anything to remove (mailbox.Service.ExpungeMarked). Used
	// by the session's goroutine only.
	marked bool

	seq   uint64          // the order views were made in
	told  map[string]bool // keywords the client was told in FLAGS (lower case)
	saved mailbox.UIDSet  // the last SEARCH ... RETURN (SAVE) result ($)

	// The session's \Recent messages (RFC 3501 2.3.2), used by its own
	// goroutine only: the range it claimed at SELECT, the messages
	// given to it since, and how many of them are left.
	recentFrom, recentTo uint32
	recentAdded          []uint32
	recentCount          uint32
}

// attach makes a view of folder f for a session. It must run while the
// folder's lock is held, with count the stored number of messages then
// (mailbox.ReadMailbox's locked function), so that no change is missed or
// counted twice. bye is called, without blocking, if the view is dropped.
// A read-write view's \Recent messages are those its session claimed
// (claimRecent): recentFrom to recentTo, none if recentTo is 0.
func (h *hub) attach(f mailbox.Folder, count uint32, readOnly bool, recentFrom, recentTo uint32, bye func()) *view {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.boxes[f.ID]
	if b == nil {
		b = &box{id: f.ID, count: count, most: count, limit: max(h.limit, 1),
			views: make(map[*view]struct{}), keywords: make(map[string]string)}
		b.trim = min(minTrim, b.capLocked()+1)
		h.boxes[f.ID] = b
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.count != count {
		// Cannot happen while every writer takes the folder's lock.
		h.log.Error("imap: tracker count differs from the store", "mailbox", f.ID, "tracker", b.count, "store", count)
	}
	h.views++
	v := &view{box: b, hub: h, seq: h.views, folder: f, readOnly: readOnly, bye: bye,
		notify: make(chan struct{}, 1), applied: b.version(), known: b.count}
	b.views[v] = struct{}{}
	// SELECT took the folder's \Recent messages from every later
	// session; EXAMINE shows those not taken and leaves them (RFC 3501
	// 6.3.2).
	v.recentFrom, v.recentTo = recentFrom, recentTo
	if floor := h.recentFloorLocked(f); readOnly && floor < f.UIDNext {
		v.recentFrom, v.recentTo = floor, f.UIDNext-1
	}
	return v
}

// close releases the view, and the box with the last one.
func (v *view) close() {
	h, b := v.hub, v.box
	h.mu.Lock()
	defer h.mu.Unlock()
	b.mu.Lock()
	delete(b.views, v)
	empty := len(b.views) == 0
	b.mu.Unlock()
	if empty && h.boxes[b.id] == b {
		delete(h.boxes, b.id)
	}
}

// Watching implements mailbox.Watcher: the hub keeps state of the
// folders some session has selected or watches with NOTIFY.
func (h *hub) Watching(id int64) bool {
	h.mu.Lock()
	_, ok := h.boxes[id]
	h.mu.Unlock()
	return ok || h.watch.watching(id)
}

// MailboxChanged implements mailbox.Listener: it runs on the store's
// writer while the folder's lock is held, so it only queues.
func (h *hub) MailboxChanged(c mailbox.Change) {
	h.watch.changed(c)
	h.mu.Lock()
	b := h.boxes[c.MailboxID]
	var owner *view
	if c.Kind == mailbox.ChangeAdded {
		// The same lock order as attach: the hub's, then the box's.
		if b != nil {
			b.mu.Lock()
			owner = b.recentOwnerLocked(c.Origin)
			b.mu.Unlock()
		}
		// Recent for its owner only; with no owner, for the session
		// that claims it next (claimRecent).
		if owner != nil {
			h.recent[c.MailboxID] = max(h.recent[c.MailboxID], c.UID+1)
		}
	}
	if c.Kind == mailbox.ChangeLost && b != nil {
		// Sessions that select it from now on start from what they read.
		delete(h.boxes, c.MailboxID)
	}
	h.mu.Unlock()
	if b == nil {
		return // no session has the folder selected
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gone {
		return
	}
	switch c.Kind {
	case mailbox.ChangeAdded:
		if b.noteKeywordsLocked(c.Flags) {
			b.log = append(b.log, event{kind: eventFolderFlags, flags: b.mailboxFlagsLocked()})
		}
		b.count++
		b.most = max(b.most, b.count)
		b.log = append(b.log, event{kind: eventAdded, n: b.count, uid: c.UID, modSeq: c.ModSeq, recentFor: owner})
		b.uidAddedLocked(c.UID)
		if h.ownsStore {
			b.keepAddedLocked(c.Row)
		}
	case mailbox.ChangeExpunged:
		if c.Seq == 0 || c.Seq > b.count {
			// The sessions' numbers would go wrong; drop them instead.
			h.log.Error("imap: expunge out of range", "mailbox", b.id, "seq", c.Seq, "count", b.count)
			b.gone = true
			break
		}
		b.count--
		b.log = append(b.log, event{kind: eventExpunged, n: c.Seq, uid: c.UID, modSeq: c.ModSeq})
		b.uidExpungedLocked(c.Seq, c.UID)
		delete(b.rows, c.UID)
	case mailbox.ChangeFlags:
		if c.Seq == 0 || c.Seq > b.count {
			h.log.Error("imap: flag change out of range", "mailbox", b.id, "seq", c.Seq, "count", b.count)
			b.rows = nil
			break
		}
		b.rowFlagsLocked(c.UID, c.ModSeq, c.Flags)
		origin, _ := c.Origin.(*view)
		flags := make([]imap.Flag, len(c.Flags))
		for i, f := range c.Flags {
			flags[i] = imap.Flag(f)
		}
		if b.noteKeywordsLocked(c.Flags) {
			// Every session, the one that stored it too, learns the new
			// keyword before a message shows it.
			b.log = append(b.log, event{kind: eventFolderFlags, flags: b.mailboxFlagsLocked()})
		}
		b.log = append(b.log, event{kind: eventFlags, n: c.Seq, uid: c.UID, modSeq: c.ModSeq, flags: flags, origin: origin})
	case mailbox.ChangeFolderDeleted:
		b.gone = true
	case mailbox.ChangeLost:
		b.gone, b.lost = true, true
	default:
		return
	}
	if b.gone {
		b.rows = nil
	}
	if !b.gone && len(b.log) >= b.trim {
		b.trimLocked()
	}
	for v := range b.views {
		select {
		case v.notify <- struct{}{}:
		default:
		}
	}
}

// minTrim is the shortest log worth trimming.
const minTrim = 1024

// maxUnreported is how many changes a box keeps for a session that has
// not told its client of them (hub.limit), or twice the folder's size if
// that is more (capLocked). A session only falls that far behind when it
// sends no command that may carry EXPUNGE while another empties the
// folder around it: FETCH, STORE and SEARCH by sequence number must hold
// expunges back (RFC 9051 7.5.1), and a client that sends only those, or
// nothing, would otherwise make the box keep every change for as long as
// the session lasts. Past it the session is dropped (trimLocked).
// 100,000 changes are 64 bytes each, some 6 MB. The folder's size
// counts because one command of any session (its own STORE 1:* too)
// announces a change per message before anyone can report them.
const maxUnreported = 100_000

// capLocked is how many changes the box keeps for its slowest view.
func (b *box) capLocked() int { return max(b.limit, 2*int(b.most)) }

// byeDropped is the BYE of a session whose view was dropped.
const byeDropped = "Too many changes to the selected mailbox not yet reported, closing"

// errDropped answers a command that reads the folder through a dropped
// view: its client's sequence numbers can no longer be mapped. The
// command's BYE (pollView) follows at once.
var errDropped = no(imap.ResponseCodeLimit, byeDropped)

// trimLocked forgets the changes every view has been told of. Past the
// box's limit it first drops the views that hold more than that many
// changes back, whatever their sessions do: those are told BYE (bye),
// and are no longer counted, so the log stays at most limit long. A
// dropped view's applied may then lie below base: pending, capture and
// apply look at dropped before they index the log. It runs under b.mu.
func (b *box) trimLocked() {
	ver := b.version()
	limit := b.capLocked()
	if len(b.log) > limit {
		floor := ver - uint64(limit)
		for o := range b.views {
			if !o.dropped && o.applied < floor {
				o.dropped = true
				if o.bye != nil {
					o.bye()
				}
			}
		}
	}
	low := ver
	for o := range b.views {
		if !o.dropped {
			low = min(low, o.applied)
		}
	}
	if low > b.base {
		b.log = append([]event(nil), b.log[low-b.base:]...)
		b.base = low
	}
	// Amortised: the log is copied again once it doubled, and always
	// before it passes the limit.
	b.trim = min(max(minTrim, 2*len(b.log)), limit+1)
}

// logLen is how many changes the box holds (for tests).
func (b *box) logLen() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.log)
}

// pending returns the changes the client has not been told of: those
// from version applied on; none once the view was dropped.
func (v *view) pending() []event {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	if v.dropped {
		return nil
	}
	return slices.Clone(b.log[v.applied-b.base:])
}

// apply records that the client was told the next n changes, and now
// knows known messages. A view dropped meanwhile records nothing: its
// session ends at its next poll.
func (v *view) apply(n int, known uint32) {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	if v.dropped {
		return
	}
	v.applied += uint64(n)
	v.known = known
	if len(b.log) >= b.trim {
		b.trimLocked()
	}
}

// capture returns the mapping between the client's sequence numbers and
// the stored ones at this moment. It must run while the folder's lock is
// held, at the moment a snapshot is taken (mailbox.ReadMailbox's locked
// function).
func (v *view) capture() mapping {
	v.box.mu.Lock()
	defer v.box.mu.Unlock()
	return v.captureLocked()
}

// captureLocked is capture, under box.mu.
func (v *view) captureLocked() mapping {
	b := v.box
	m := mapping{known: v.known, gone: b.gone, version: b.version()}
	if v.dropped {
		m.dropped = true
		return m
	}
	if b.uids != nil && !b.gone {
		// A gone box's UIDs stopped following the folder.
		m.uids = b.uids[:len(b.uids):len(b.uids)]
		b.uidsLent = true
	}
	for _, e := range b.log[v.applied-b.base:] {
		switch {
		case e.moves():
			m.events = append(m.events, e)
		case e.kind == eventFlags:
			if m.flagged == nil {
				m.flagged = make(map[uint32]bool)
			}
			m.flagged[e.uid] = true
		}
	}
	return m
}

// goneReason is, when the session must end, its BYE: the folder went
// away under the view, or the view was dropped; "" otherwise.
func (v *view) goneReason() string {
	v.box.mu.Lock()
	defer v.box.mu.Unlock()
	switch {
	case v.box.lost:
		return "The selected mailbox changed elsewhere more than this server can report, select it again"
	case v.box.gone:
		return "The selected mailbox was deleted"
	case v.dropped:
		return byeDropped
	}
	return ""
}

// mapping relates a client's sequence numbers to those of a snapshot:
// the snapshot is the client's view with events applied.
type mapping struct {
	known   uint32 // messages the client knows
	events  []event
	gone    bool
	dropped bool // the view was dropped: events are unknown (errDropped)
	// version is the box's at the snapshot; uids its UIDs then, if the
	// box had them (nil: the reader asks SQLite, and may load them).
	version uint64
	uids    []uint32
	// flagged are the messages with flag changes the client was not yet
	// told of (view.shown).
	flagged map[uint32]bool
}

// hasExpunges reports whether some client sequence numbers moved.
func (m *mapping) hasExpunges() bool {
	for _, e := range m.events {
		if e.kind == eventExpunged {
			return true
		}
	}
	return false
}

// lostKnown reports whether a message the client knows was expunged
// since. The client's messages hold the lowest positions (new ones come
// last), so until one of them goes they are 1..known, and an expunge at
// or below known takes one.
func (m *mapping) lostKnown() bool {
	for _, e := range m.events {
		if e.kind == eventExpunged && e.n <= m.known {
			return true
		}
	}
	return false
}

// toSnapshot turns a client sequence number (1..known) into the
// snapshot's, 0 if that message was expunged since.
func (m *mapping) toSnapshot(c uint32) uint32 {
	for _, e := range m.events {
		if e.kind != eventExpunged {
			continue
		}
		switch {
		case c == e.n:
			return 0
		case c > e.n:
			c--
		}
	}
	return c
}

// toClient turns a snapshot sequence number into the client's, 0 if the
// client does not know that message yet.
func (m *mapping) toClient(s uint32) uint32 {
	if len(m.events) == 0 {
		if s > m.known {
			return 0
		}
		return s
	}
	for i := len(m.events) - 1; i >= 0; i-- {
		e := m.events[i]
		if e.kind == eventExpunged {
			if s >= e.n {
				s++
			}
		} else if s == e.n {
			return 0
		}
	}
	return s
}
