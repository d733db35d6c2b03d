package imap

import (
	"context"
	"errors"
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
// FETCH).

// notifyEvents is a set of the events Pillarbox reports.
type notifyEvents uint8

const (
	evMessageNew notifyEvents = 1 << iota
	evMessageExpunge
	evFlagChange
)

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

// watchers holds the NOTIFY registrations of all sessions, by folder.
type watchers struct {
	mu    sync.Mutex
	byBox map[int64]map[*notifier]notifyEvents
}

// notifier is one session's NOTIFY state, shared with the hub.
type notifier struct {
	wake chan struct{} // something fired (IDLE waits on it)

	mu      sync.Mutex
	pending map[int64]notifyEvents // folders with events not yet told
}

func newNotifier() *notifier {
	return &notifier{wake: make(chan struct{}, 1), pending: make(map[int64]notifyEvents)}
}

// set replaces n's registrations with folders.
func (ws *watchers) set(n *notifier, folders map[int64]notifyEvents) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
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
	n.mu.Lock()
	clear(n.pending)
	n.mu.Unlock()
}

// changed tells the sessions watching c's folder, if c is an event they
// want. It runs on the store's writer: it only marks and signals.
func (ws *watchers) changed(c mailbox.Change) {
	ev := eventOf(c.Kind)
	if ev == 0 {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for n, want := range ws.byBox[c.MailboxID] {
		if want&ev == 0 {
			continue
		}
		n.mu.Lock()
		n.pending[c.MailboxID] |= ev
		n.mu.Unlock()
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}

// take returns and clears the folders with events not yet told.
func (n *notifier) take() map[int64]notifyEvents {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.pending) == 0 {
		return nil
	}
	out := n.pending
	n.pending = make(map[int64]notifyEvents)
	return out
}

// cmdNotify answers NOTIFY SET and NOTIFY NONE.
func (s *session) cmdNotify(c *wire.Notify) (result, error) {
	if c.None {
		s.srv.hub.watch.set(s.notify, nil)
		s.notifying = false
		return result{}, nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	folders, err := s.srv.svc.Folders(ctx, s.account.ID)
	if err != nil {
		return result{}, s.fail("notify", err)
	}
	var subscribed []string
	watch := make(map[int64]notifyEvents)
	for _, g := range c.Groups {
		var ev notifyEvents
		for _, e := range g.Events {
			switch e {
			case "MESSAGENEW":
				ev |= evMessageNew
			case "MESSAGEEXPUNGE":
				ev |= evMessageExpunge
			case "FLAGCHANGE":
				ev |= evFlagChange
			default:
				// RFC 5465 3.1: an event the server does not report.
				return result{}, no("BADEVENT (MessageNew MessageExpunge FlagChange)", "Unsupported event "+e)
			}
		}
		if g.Filter == "SUBSCRIBED" && subscribed == nil {
			if subscribed, err = s.srv.svc.Subscriptions(ctx, s.account.ID); err != nil {
				return result{}, s.fail("notify", err)
			}
		}
		for _, f := range folders {
			if notifyMatches(g, f.Name, subscribed) {
				watch[f.ID] |= ev
			}
		}
	}
	s.srv.hub.watch.set(s.notify, watch)
	s.notifying = len(watch) > 0
	if c.Status {
		// RFC 5465 3.1: STATUS of every folder watched, now.
		ids := make([]int64, 0, len(watch))
		for id := range watch {
			ids = append(ids, id)
		}
		slices.Sort(ids)
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

// notifyMatches reports whether a filter names a folder. SELECTED and
// SELECTED-DELAYED name the selected folder, which is told of anyway.
func notifyMatches(g wire.NotifyGroup, name string, subscribed []string) bool {
	switch g.Filter {
	case "INBOXES":
		return name == "INBOX"
	case "PERSONAL":
		return true
	case "SUBSCRIBED":
		return slices.Contains(subscribed, name)
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
	fired := s.notify.take()
	if len(fired) == 0 {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
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
