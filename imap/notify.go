package imap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// NOTIFY (RFC 5465): a session names folders other than the selected one
// and the events it wants of them; the hub tells it when one happens, and
// it writes the folder's STATUS after its next command or at once in
// IDLE. The selected folder's changes come as always (EXISTS, EXPUNGE,
// FETCH). Folders created, deleted or renamed (MailboxName) and names
// subscribed or unsubscribed (SubscriptionChange) come as LIST
// responses, and change which folders the filters name.

// notifyEvents is a set of the events Pillarbox reports.
type notifyEvents uint8

const (
	evMessageNew notifyEvents = 1 << iota
	evMessageExpunge
	evFlagChange
	evMailboxName
	evSubscriptionChange

	messageEvents = evMessageNew | evMessageExpunge | evFlagChange
)

// eventNames are the events NOTIFY SET accepts, by upper-case name.
var eventNames = map[string]notifyEvents{
	"MESSAGENEW": evMessageNew, "MESSAGEEXPUNGE": evMessageExpunge, "FLAGCHANGE": evFlagChange,
	"MAILBOXNAME": evMailboxName, "SUBSCRIPTIONCHANGE": evSubscriptionChange,
}

// eventOf is the event a committed change is.
func eventOf(k mailbox.ChangeKind) notifyEvents {
	switch k {
	case mailbox.ChangeAdded:
		return evMessageNew
	case mailbox.ChangeExpunged:
		return evMessageExpunge
	case mailbox.ChangeFlags:
		return evFlagChange
	}
	return 0
}

// watchers holds the NOTIFY registrations of all sessions: by folder for
// message events, by account for folder and subscription events.
type watchers struct {
	mu        sync.Mutex
	byBox     map[int64]map[*notifier]notifyEvents
	byAccount map[int64]map[*notifier]struct{}
}

// notifier is one session's NOTIFY state, shared with the hub.
type notifier struct {
	wake chan struct{} // something fired (IDLE waits on it)

	mu      sync.Mutex
	pending map[int64]notifyEvents // folders with events not yet told
	// The NOTIFY SET in force, for folder and subscription events: its
	// groups, each group's events, and the account's subscribed names
	// (kept up to date by those events, for the SUBSCRIBED filter).
	groups     []wire.NotifyGroup
	events     []notifyEvents
	subscribed map[string]bool
	lists      []imap.ListData // LIST responses not yet written
	refresh    bool            // the filters may name other folders now
	overflow   bool            // lists passed maxNotifyLists: NOTIFY ends
}

// maxNotifyLists bounds the LIST responses kept for a session that does
// not read them (it sends no command and is not in IDLE): past it the
// session is told NOTIFICATIONOVERFLOW and NOTIFY ends for it.
const maxNotifyLists = 1000

func newNotifier() *notifier {
	return &notifier{wake: make(chan struct{}, 1), pending: make(map[int64]notifyEvents)}
}

// set replaces n's registrations with folders, and with account's folder
// and subscription events (none when account is 0).
func (ws *watchers) set(n *notifier, folders map[int64]notifyEvents, account int64) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.watchLocked(n, folders)
	for id, m := range ws.byAccount {
		delete(m, n)
		if len(m) == 0 {
			delete(ws.byAccount, id)
		}
	}
	if account != 0 {
		if ws.byAccount[account] == nil {
			ws.byAccount[account] = make(map[*notifier]struct{})
		}
		ws.byAccount[account][n] = struct{}{}
	}
	n.mu.Lock()
	clear(n.pending)
	n.lists, n.refresh, n.overflow = nil, false, false
	n.mu.Unlock()
}

// rewatch replaces n's folder registrations, keeping what is pending.
func (ws *watchers) rewatch(n *notifier, folders map[int64]notifyEvents) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.watchLocked(n, folders)
}

func (ws *watchers) watchLocked(n *notifier, folders map[int64]notifyEvents) {
	for id, m := range ws.byBox {
		delete(m, n)
		if len(m) == 0 {
			delete(ws.byBox, id)
		}
	}
	for id, ev := range folders {
		if ws.byBox[id] == nil {
			ws.byBox[id] = make(map[*notifier]notifyEvents)
		}
		ws.byBox[id][n] = ev
	}
}

// watching reports whether a session watches the folder's messages.
func (ws *watchers) watching(id int64) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.byBox[id]) > 0
}

// changed tells the sessions watching c's folder, if c is an event they
// want. It runs on the store's writer: it only marks and signals.
func (ws *watchers) changed(c mailbox.Change) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if c.Kind >= mailbox.ChangeFolderDeleted {
		for n := range ws.byAccount[c.AccountID] {
			if n.folderChanged(c) {
				n.signal()
			}
		}
		return
	}
	ev := eventOf(c.Kind)
	if ev == 0 {
		return
	}
	for n, want := range ws.byBox[c.MailboxID] {
		if want&ev == 0 {
			continue
		}
		n.mu.Lock()
		n.pending[c.MailboxID] |= ev
		n.mu.Unlock()
		n.signal()
	}
}

func (n *notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// folderChanged queues the LIST response a folder or subscription change
// calls for (RFC 5465 5.4, 5.5), if a group wants it, and notes when the
// filters may name other folders now; it reports whether either.
func (n *notifier) folderChanged(c mailbox.Change) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	ev, moved := evMailboxName, true
	d := imap.ListData{Delim: mailbox.Delimiter, Mailbox: c.Name, OldName: c.OldName}
	switch c.Kind {
	case mailbox.ChangeFolderDeleted:
		d.Attrs = []imap.MailboxAttr{imap.MailboxAttrNonExistent}
	case mailbox.ChangeSubscribed:
		ev, moved = evSubscriptionChange, false
		d.Attrs = []imap.MailboxAttr{imap.MailboxAttrSubscribed}
	case mailbox.ChangeUnsubscribed:
		ev, moved = evSubscriptionChange, false
	}
	// A SUBSCRIBED filter names the name both before and after its
	// subscription changes: the client learns of the removal too.
	changedSub := ev == evSubscriptionChange
	isSub := func(name string) bool { return n.subscribed[name] || changedSub && name == c.Name }
	defer func() {
		switch c.Kind {
		case mailbox.ChangeSubscribed:
			n.subscribed[c.Name] = true
		case mailbox.ChangeUnsubscribed:
			delete(n.subscribed, c.Name)
		}
	}()
	tell, refresh := false, false
	for i, g := range n.groups {
		if n.events[i]&ev != 0 && (notifyMatches(g, c.Name, isSub) || c.OldName != "" && notifyMatches(g, c.OldName, isSub)) {
			tell = true
		}
		if n.events[i]&messageEvents != 0 && (moved || g.Filter == "SUBSCRIBED") {
			refresh = true
		}
	}
	if tell && !n.overflow {
		if len(n.lists) == maxNotifyLists {
			// RFC 5465 5.8: more than the session will ever be told.
			n.lists, n.overflow = nil, true
		} else {
			n.lists = append(n.lists, d)
		}
	}
	n.refresh = n.refresh || refresh
	return tell || refresh
}

// take returns and clears the folders with events not yet told, the
// LIST responses to write and whether to watch the filters' folders anew.
func (n *notifier) take() (map[int64]notifyEvents, []imap.ListData, bool, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out, lists, refresh, overflow := n.pending, n.lists, n.refresh, n.overflow
	if len(out) == 0 {
		out = nil
	} else {
		n.pending = make(map[int64]notifyEvents)
	}
	n.lists, n.refresh, n.overflow = nil, false, false
	return out, lists, refresh, overflow
}

// maxNotifyMailboxes bounds the names the filters of one NOTIFY SET
// give (MAILBOXES and SUBTREE): each is matched against every folder
// of the account when NOTIFY is set and again whenever a folder is made,
// renamed or deleted, as long as NOTIFY is in force.
const maxNotifyMailboxes = 1000

// cmdNotify answers NOTIFY SET and NOTIFY NONE.
func (s *session) cmdNotify(c *wire.Notify) (result, error) {
	if c.None {
		s.stopNotify()
		return result{}, nil
	}
	names := 0
	for _, g := range c.Groups {
		names += len(g.Mailboxes)
	}
	if names > maxNotifyMailboxes {
		return result{}, no(imap.ResponseCodeLimit, fmt.Sprintf("At most %d mailbox names in one NOTIFY", maxNotifyMailboxes))
	}
	events := make([]notifyEvents, len(c.Groups))
	for i, g := range c.Groups {
		for _, e := range g.Events {
			ev, ok := eventNames[e]
			if !ok {
				// RFC 5465 3.1: an event the server does not report.
				return result{}, no("BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)",
					"Unsupported event "+e)
			}
			events[i] |= ev
		}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	// Registered while no change to the account's folders and
	// subscriptions can commit: each change comes either in what is
	// read here or as an event after it.
	n := s.notify
	var watch map[int64]notifyEvents
	err := s.srv.svc.WatchAccount(ctx, s.account.ID, func(folders []mailbox.Folder, subscribed []string) {
		n.mu.Lock()
		n.groups, n.events = c.Groups, events
		n.subscribed = make(map[string]bool, len(subscribed))
		for _, name := range subscribed {
			n.subscribed[name] = true
		}
		n.mu.Unlock()
		watch = n.folderEvents(folders)
		s.srv.hub.watch.set(n, watch, s.account.ID)
	})
	if err != nil {
		return result{}, s.fail("notify", err)
	}
	ids, err := s.trackWatched(ctx, watch)
	if err != nil {
		s.srv.hub.watch.set(n, nil, 0) // NO: nothing is watched
		return result{}, s.fail("notify", err)
	}
	s.notifying = true
	s.newFetch = nil
	for _, g := range c.Groups {
		if g.NewFetch != nil && (g.Filter == "SELECTED" || g.Filter == "SELECTED-DELAYED") {
			// RFC 5465 5.2: only the selected folder's new messages are
			// fetched; the attributes given elsewhere are ignored.
			s.newFetch = fetchOf(g.NewFetch)
			s.newFetch.notification = true
		}
	}
	if s.newFetch != nil && s.newFetch.ModSeq {
		if err := s.condStoreOn(); err != nil {
			return result{}, err
		}
	}
	if c.Status {
		// RFC 5465 3.1: STATUS of every folder watched, now.
		for _, id := range ids {
			if s.view != nil && s.view.folder.ID == id || watch[id] == 0 {
				continue
			}
			if err := s.writeEventStatus(ctx, id, watch[id]); err != nil {
				return result{}, err
			}
		}
	}
	return result{}, nil
}

// trackWatched has the Service follow other nodes' changes to the
// watched folders (mailbox.Service.Track), once they are registered, so
// that a catch-up finds them watched; it returns their ids in order.
func (s *session) trackWatched(ctx context.Context, watch map[int64]notifyEvents) ([]int64, error) {
	ids := make([]int64, 0, len(watch))
	for id := range watch {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, s.srv.svc.Track(ctx, ids)
}

// stopNotify ends NOTIFY for the session (NOTIFY NONE, an overflow,
// UNAUTHENTICATE, the end of the connection).
func (s *session) stopNotify() {
	if s.notifying {
		s.srv.hub.watch.set(s.notify, nil, 0)
		s.notifying = false
		s.newFetch = nil
	}
}

// notifyFolders returns the message events NOTIFY's filters ask of each
// folder, as the folders and subscriptions are now.
func (s *session) notifyFolders(ctx context.Context) (map[int64]notifyEvents, error) {
	folders, err := s.srv.svc.Folders(ctx, s.account.ID)
	if err != nil {
		return nil, err
	}
	return s.notify.folderEvents(folders), nil
}

// folderEvents returns the message events the filters ask of each of
// folders.
func (n *notifier) folderEvents(folders []mailbox.Folder) map[int64]notifyEvents {
	n.mu.Lock()
	defer n.mu.Unlock()
	isSub := func(name string) bool { return n.subscribed[name] }
	watch := make(map[int64]notifyEvents)
	for i, g := range n.groups {
		ev := n.events[i] & messageEvents
		if ev == 0 {
			continue
		}
		for _, f := range folders {
			if notifyMatches(g, f.Name, isSub) {
				watch[f.ID] |= ev
			}
		}
	}
	return watch
}

// notifyMatches reports whether a filter names a folder. SELECTED and
// SELECTED-DELAYED name the selected folder, which is told of anyway.
func notifyMatches(g wire.NotifyGroup, name string, subscribed func(string) bool) bool {
	switch g.Filter {
	case "INBOXES":
		return name == "INBOX"
	case "PERSONAL":
		return true
	case "SUBSCRIBED":
		return subscribed(name)
	case "MAILBOXES":
		return slices.Contains(g.Mailboxes, name)
	case "SUBTREE":
		for _, m := range g.Mailboxes {
			if name == m || strings.HasPrefix(name, m+string(mailbox.Delimiter)) {
				return true
			}
		}
	}
	return false
}

// writeEventStatus writes the STATUS a folder's events call for (RFC
// 5465 5.1-5.3): MESSAGES (and UIDNEXT, UIDVALIDITY for new messages)
// and HIGHESTMODSEQ for flag changes.
func (s *session) writeEventStatus(ctx context.Context, id int64, ev notifyEvents) error {
	o := &imap.StatusOptions{
		NumMessages: ev&(evMessageNew|evMessageExpunge) != 0,
		UIDNext:     ev&evMessageNew != 0,
		UIDValidity: ev&(evMessageNew|evFlagChange) != 0,
	}
	o.HighestModSeq = ev&evFlagChange != 0
	var f mailbox.Folder
	err := s.srv.svc.ReadMailbox(ctx, id, nil, func(r *mailbox.Reader) error {
		f = r.Folder()
		return nil
	})
	if errors.Is(err, mailbox.ErrNoSuchFolder) {
		return nil
	}
	if err == nil {
		err = s.writeStatus(ctx, f, o)
	}
	if err != nil {
		return s.fail("notify", err)
	}
	return nil
}

// writeNotified writes the STATUS of the watched folders whose events
// fired since the last time. It runs under the writer's lock.
func (s *session) writeNotified() error {
	// What is told of other folders may come from any commit so far.
	s.owed.Note(s.srv.svc.Committed())
	fired, lists, refresh, overflow := s.notify.take()
	if overflow {
		// RFC 5465 5.8: as if the client had sent NOTIFY NONE.
		s.stopNotify()
		s.w.StatusResponse("", wire.OK, "NOTIFICATIONOVERFLOW", "Too many changes to report: NOTIFY is off")
		return nil
	}
	for i := range lists {
		s.writeList(&lists[i])
	}
	if len(fired) == 0 && !refresh {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if refresh {
		watch, err := s.notifyFolders(ctx)
		if err != nil {
			return s.fail("notify", err)
		}
		s.srv.hub.watch.rewatch(s.notify, watch)
		if _, err := s.trackWatched(ctx, watch); err != nil {
			return s.fail("notify", err)
		}
	}
	ids := make([]int64, 0, len(fired))
	for id := range fired {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if s.view != nil && s.view.folder.ID == id {
			continue
		}
		if err := s.writeEventStatus(ctx, id, fired[id]); err != nil {
			return err
		}
	}
	return nil
}
