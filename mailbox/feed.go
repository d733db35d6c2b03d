package mailbox

import (
	"sync"

	"pillarbox/store"
)

// ChangeKind says what happened to a message.
type ChangeKind int

// Kinds of Change.
const (
	ChangeAdded    ChangeKind = iota + 1 // a new message (UID) in the mailbox
	ChangeFlags                          // the message's flags changed
	ChangeExpunged                       // the message was removed
	// ChangeLost says that the mailbox's changes can no longer be told
	// one by one: another node removed more messages than the mailbox
	// remembers (follow.go). A listener must forget what it
	// keeps of the mailbox; what it reads next is the new start.
	ChangeLost
)

// Change is one committed change to one message of a mailbox.
type Change struct {
	Kind      ChangeKind
	MailboxID int64
	UID       uint32
	ModSeq    uint64
	// Flags is, for ChangeFlags, every flag the message now has; for
	// ChangeAdded, the new message's keywords (so that a listener can
	// announce new ones before the message shows them).
	Flags []string
	// Seq is the message's sequence number (RFC 9051 2.3.1.2) when the
	// change committed: for ChangeFlags its position, for ChangeExpunged
	// its position just before it went. Expunges of one write are
	// announced from the highest Seq down, so each Seq is right when it is
	// applied in order. Zero for ChangeAdded: the message is the last one.
	Seq uint32
	// Row is, for ChangeAdded made on this node, the new message's row as
	// a Reader with WantRow reads it (Seq zero, and no envelope,
	// structure or body): a listener may keep it. Nil when the change
	// came from another node, and for copies.
	Row *Message
	// Origin is the value the writer passed in to say who made the change
	// (opaque to this package), so that a listener can leave out the
	// session that already knows; nil for delivery.
	Origin any
	// AccountID, Name and OldName describe changes to an account's
	// folders and subscriptions (ChangeFolderDeleted and after).
	AccountID     int64
	Name, OldName string
}

// Listener receives every committed change in commit order. It is called
// while the mailbox's lock is held (see LockMailbox) on the store's writer
// goroutine, so it must be quick and must never wait for a write.
type Listener interface {
	MailboxChanged(Change)
}

// AddListener registers l for every later change.
func (s *Service) AddListener(l Listener) {
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
}

// LockMailbox takes the mailbox's lock and returns its release. While it
// is held no change to the mailbox commits or is announced, so a reader
// that takes it sees the stored state and the change feed agree: what it
// reads includes exactly the changes already announced. Never wait for a
// write while holding it.
func (s *Service) LockMailbox(id int64) (unlock func()) {
	l := s.mailboxLock(id)
	l.Lock()
	return l.Unlock
}

func (s *Service) mailboxLock(id int64) *sync.Mutex { return &s.state(id).mu }

// announce tells the listeners of a change this node committed. It runs
// in the commit's OnCommit, with the mailbox's lock held. A change to
// messages that does not follow what was announced before (another
// node's commit came between) is held back for catchUp (follow.go).
func (s *Service) announce(c Change) {
	switch {
	case c.Kind == ChangeFolderDeleted:
		s.forgetLocked(c.MailboxID, s.state(c.MailboxID))
	case c.Kind < ChangeFolderDeleted && !s.stepLocked(c):
		return
	}
	s.tell(c)
}

// tell calls every listener.
func (s *Service) tell(c Change) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, l := range s.listeners {
		l.MailboxChanged(c)
	}
}

// A RecentTaker is a Listener whose sessions take new messages as
// \Recent (IMAP, RFC 3501 2.3.2): TakesRecent reports whether one of
// them would take a message added to the mailbox now. It is called on
// the store's writer with the mailbox's lock held.
type RecentTaker interface {
	TakesRecent(mailboxID int64) bool
}

// claimTaken claims in tx (Tx.ClaimRecent) the messages tx added to a
// mailbox when a listener's session takes them as \Recent, so that a
// restart does not make them recent again. tx holds the mailbox's lock.
func (s *Service) claimTaken(tx store.Tx, mailbox int64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, l := range s.listeners {
		if t, ok := l.(RecentTaker); ok && t.TakesRecent(mailbox) {
			_, _, err := tx.ClaimRecent(mailbox, 0)
			return err
		}
	}
	return nil
}
