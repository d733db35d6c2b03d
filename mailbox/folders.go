package mailbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"pillarbox/store"
)

// Errors of folder (IMAP mailbox) operations. Check with errors.Is.
var (
	ErrNoSuchFolder  = errors.New("mailbox: no such mailbox")
	ErrFolderExists  = errors.New("mailbox: mailbox already exists")
	ErrBadFolderName = errors.New("mailbox: invalid mailbox name")
	// ErrNotAllowed is an operation the rules forbid, such as deleting
	// INBOX or renaming a mailbox into itself.
	ErrNotAllowed = errors.New("mailbox: not allowed")
	// ErrBadSpecialUse is a special-use attribute that cannot be given.
	ErrBadSpecialUse = errors.New("mailbox: unsupported special-use attribute")
	// ErrLimit is a folder or subscription past the account's bound
	// (Options.MaxFolders, Options.MaxSubscriptions).
	ErrLimit = errors.New("mailbox: limit reached")
)

// Changes to an account's folders, announced with AccountID, MailboxID
// and Name (and OldName for a rename), so that sessions can let go of a
// deleted folder and tell clients that asked (IMAP NOTIFY's MailboxName
// and SubscriptionChange, RFC 5465 5.4 and 5.5).
const (
	ChangeFolderDeleted ChangeKind = iota + 100
	ChangeFolderCreated            // parents made on the way included
	ChangeFolderRenamed            // each folder moved, the ones below too
	ChangeSubscribed               // Name was subscribed (no folder needed)
	ChangeUnsubscribed
)

// Delimiter separates the levels of folder names.
const Delimiter = '/'

// Folder name limits: long enough for any real hierarchy, short enough
// that a LIST response stays small.
const (
	maxFolderName      = 1000 // octets
	maxFolderComponent = 255  // octets of one level
)

// Folder is one mailbox of an account, in IMAP's sense.
type Folder struct {
	ID          int64
	Name        string
	UIDValidity uint32
	UIDNext     uint32
	SpecialUse  string // "\Sent" and so on, or ""
	Subscribed  bool
	// RecentUID is where the messages no session has claimed as
	// \Recent begin (ClaimRecent).
	RecentUID uint32
}

// FolderCounts are a folder's totals.
type FolderCounts = store.MailboxCounts

func folderOf(m store.Mailbox) Folder {
	return Folder{ID: m.ID, Name: m.Name, UIDValidity: m.UIDValidity, UIDNext: m.UIDNext,
		SpecialUse: m.SpecialUse, Subscribed: m.Subscribed, RecentUID: m.RecentUID}
}

// NormalizeFolderName checks a folder name and returns it as stored:
// "INBOX" in any case is INBOX (RFC 9051 5.1), also as the first level of
// a longer name. A name is valid UTF-8 without control or invisible
// formatting characters and without the LIST wildcards '*' and '%', has no
// empty level (no leading, trailing or doubled '/'), no level "." or "..",
// and does not start with '#', which IMAP reserves for namespaces.
func NormalizeFolderName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrBadFolderName, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxFolderName:
		return bad(fmt.Sprintf("longer than %d octets", maxFolderName))
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case strings.HasPrefix(name, "#"):
		return bad("names starting with '#' are namespaces")
	}
	for _, r := range name {
		switch {
		case r == '*' || r == '%':
			return bad("'*' and '%' are wildcards")
		case unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			return bad(fmt.Sprintf("character %U not allowed", r))
		}
	}
	levels := strings.Split(name, string(Delimiter))
	for _, l := range levels {
		switch {
		case l == "":
			return bad("empty level")
		case l == "." || l == "..":
			return bad("level " + l)
		case len(l) > maxFolderComponent:
			return bad(fmt.Sprintf("level longer than %d octets", maxFolderComponent))
		}
	}
	if strings.EqualFold(levels[0], "INBOX") {
		levels[0] = "INBOX"
	}
	return strings.Join(levels, string(Delimiter)), nil
}

// createParents creates, inside tx, every missing parent folder of name
// (RFC 9051 6.3.4: CREATE and RENAME make the superior hierarchy).
func createParents(tx store.Tx, account int64, name string, now time.Time) ([]store.Mailbox, error) {
	var made []store.Mailbox
	for _, p := range parents(name) {
		if _, err := tx.MailboxByName(account, p); errors.Is(err, store.ErrNotFound) {
			m, err := tx.CreateMailbox(account, p, "", false, now)
			if errors.Is(err, store.ErrExists) {
				// Made meanwhile by a writer of another server on the same
				// store: the parent is there, which is all CREATE needs.
				continue
			}
			if err != nil {
				return nil, err
			}
			made = append(made, m)
		} else if err != nil {
			return nil, err
		}
	}
	return made, nil
}

// announceCreated announces, once tx commits, the folders it made.
func (s *Service) announceCreated(tx store.Tx, made []store.Mailbox) {
	if len(made) > 0 {
		s.lockAccount(tx, made[0].AccountID)
	}
	for _, m := range made {
		tx.OnCommit(func() {
			s.announce(Change{Kind: ChangeFolderCreated, AccountID: m.AccountID, MailboxID: m.ID, Name: m.Name})
		})
	}
}

// remakeInbox creates an account's INBOX again, subscribed, inside tx,
// and announces it like any folder made (a NOTIFY MailboxName event):
// INBOX always exists (RFC 9051 5.1), so whatever finds it gone makes it.
func (s *Service) remakeInbox(tx store.Tx, account int64, now time.Time) (store.Mailbox, error) {
	m, err := tx.CreateMailbox(account, "INBOX", "", true, now)
	if err != nil {
		return m, err
	}
	s.announceCreated(tx, []store.Mailbox{m})
	return m, nil
}

// checkFolderCount refuses, with ErrLimit, a write that would take an
// account with the folders all past Options.MaxFolders: one that adds
// the missing levels above name and extra folders more.
func (s *Service) checkFolderCount(all []store.Mailbox, name string, extra int) error {
	added := extra
	for _, p := range parents(name) {
		if !slices.ContainsFunc(all, func(m store.Mailbox) bool { return m.Name == p }) {
			added++
		}
	}
	if added > 0 && len(all)+added > s.maxFolders {
		return fmt.Errorf("%w: at most %d mailboxes", ErrLimit, s.maxFolders)
	}
	return nil
}

// parents returns the names of the levels above name: "a", "a/b" for
// "a/b/c".
func parents(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == Delimiter {
			out = append(out, name[:i])
		}
	}
	return out
}

// specialUses are the RFC 6154 attributes a folder can be created with;
// \All and \Flagged would need virtual folders.
var specialUses = []string{`\Archive`, `\Drafts`, `\Junk`, `\Sent`, `\Trash`}

// NormalizeSpecialUse returns the canonical spelling of a special-use
// attribute, ErrBadSpecialUse if Pillarbox does not support it.
func NormalizeSpecialUse(attr string) (string, error) {
	for _, s := range specialUses {
		if strings.EqualFold(s, attr) {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrBadSpecialUse, attr)
}

// Folders lists an account's folders ordered by name.
func (s *Service) Folders(ctx context.Context, account int64) ([]Folder, error) {
	ms, err := s.db.Mailboxes(ctx, account)
	if err != nil {
		return nil, err
	}
	s.noteRead(ctx, store.AccountKey(account))
	out := make([]Folder, len(ms))
	for i, m := range ms {
		out[i] = folderOf(m)
		s.noteRead(ctx, m.ID)
	}
	return out, nil
}

// Folder looks up an account's folder by name.
func (s *Service) Folder(ctx context.Context, account int64, name string) (Folder, error) {
	name, err := NormalizeFolderName(name)
	if err != nil {
		return Folder{}, err
	}
	m, err := s.db.MailboxByName(ctx, account, name)
	if errors.Is(err, store.ErrNotFound) {
		if name == "INBOX" {
			return s.ensureInbox(ctx, account)
		}
		return Folder{}, fmt.Errorf("%w: %s", ErrNoSuchFolder, name)
	}
	if err != nil {
		return Folder{}, err
	}
	s.noteRead(ctx, store.AccountKey(account), m.ID)
	return folderOf(m), nil
}

// ensureInbox creates INBOX again if it is missing: it always exists
// (RFC 9051 5.1).
func (s *Service) ensureInbox(ctx context.Context, account int64) (Folder, error) {
	var f Folder
	err := s.write(ctx, func(tx store.Tx) error {
		m, err := tx.MailboxByName(account, "INBOX")
		if errors.Is(err, store.ErrNotFound) {
			m, err = s.remakeInbox(tx, account, s.now())
		}
		f = folderOf(m)
		return err
	})
	return f, err
}

// FolderCounts returns the totals of a folder by id.
func (s *Service) FolderCounts(ctx context.Context, id int64) (FolderCounts, error) {
	c, err := s.db.MailboxCounts(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return c, fmt.Errorf("%w: %d", ErrNoSuchFolder, id)
	}
	return c, err
}

// CreateFolder creates a folder, with the levels above it that are
// missing (RFC 9051 6.3.4). specialUse is "" or one attribute of RFC 6154.
func (s *Service) CreateFolder(ctx context.Context, account int64, name, specialUse string) error {
	name, err := NormalizeFolderName(name)
	if err != nil {
		return err
	}
	if specialUse != "" {
		if specialUse, err = NormalizeSpecialUse(specialUse); err != nil {
			return err
		}
	}
	now := s.now()
	err = s.write(ctx, func(tx store.Tx) error {
		if _, err := tx.MailboxByName(account, name); err == nil {
			return fmt.Errorf("%w: %s", ErrFolderExists, name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		all, err := tx.MailboxesOf(account)
		if err != nil {
			return err
		}
		if err := s.checkFolderCount(all, name, 1); err != nil {
			return err
		}
		made, err := createParents(tx, account, name, now)
		if err != nil {
			return err
		}
		m, err := tx.CreateMailbox(account, name, specialUse, false, now)
		if err != nil {
			return err
		}
		s.announceCreated(tx, append(made, m))
		return nil
	})
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %s", ErrFolderExists, name)
	}
	return err
}

// DeleteFolder deletes a folder and its messages. Folders below it stay
// (RFC 9051 6.3.5); INBOX cannot be deleted.
func (s *Service) DeleteFolder(ctx context.Context, account int64, name string) error {
	name, err := NormalizeFolderName(name)
	if err != nil {
		return err
	}
	if name == "INBOX" {
		return fmt.Errorf("%w: INBOX cannot be deleted", ErrNotAllowed)
	}
	return s.write(ctx, func(tx store.Tx) error {
		m, err := tx.MailboxByName(account, name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNoSuchFolder, name)
		}
		if err != nil {
			return err
		}
		tx.Lock(m.ID, s.mailboxLock(m.ID))
		s.lockAccount(tx, account)
		if err := tx.DeleteMailbox(m.ID); err != nil {
			return err
		}
		tx.OnCommit(func() {
			s.announce(Change{Kind: ChangeFolderDeleted, AccountID: account, MailboxID: m.ID, Name: m.Name})
		})
		return nil
	})
}

// RenameFolder renames a folder and every folder below it, creating the
// levels above the new name that are missing. Renaming INBOX moves its
// messages to the new folder and leaves an empty INBOX, whose sub-folders
// stay where they are (RFC 9051 6.3.6). Subscriptions stay with the old
// names (same section).
func (s *Service) RenameFolder(ctx context.Context, account int64, oldName, newName string) error {
	oldName, err := NormalizeFolderName(oldName)
	if err != nil {
		return err
	}
	newName, err = NormalizeFolderName(newName)
	if err != nil {
		return err
	}
	if newName == "INBOX" {
		return fmt.Errorf("%w: INBOX", ErrFolderExists)
	}
	if strings.HasPrefix(newName, oldName+string(Delimiter)) {
		return fmt.Errorf("%w: a mailbox cannot move into itself", ErrNotAllowed)
	}
	now := s.now()
	err = s.write(ctx, func(tx store.Tx) error {
		s.lockAccount(tx, account)
		all, err := tx.MailboxesOf(account)
		if err != nil {
			return err
		}
		byName := make(map[string]store.Mailbox, len(all))
		for _, m := range all {
			byName[m.Name] = m
		}
		src, ok := byName[oldName]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoSuchFolder, oldName)
		}
		// The renames to make: the folder, then (except for INBOX) the
		// folders below it.
		type move struct {
			id        int64
			name, old string
		}
		moves := []move{{src.ID, newName, oldName}}
		if oldName != "INBOX" {
			prefix := oldName + string(Delimiter)
			for _, m := range all {
				if rest, ok := strings.CutPrefix(m.Name, prefix); ok {
					moves = append(moves, move{m.ID, newName + string(Delimiter) + rest, m.Name})
				}
			}
		}
		for _, mv := range moves {
			if _, taken := byName[mv.name]; taken {
				return fmt.Errorf("%w: %s", ErrFolderExists, mv.name)
			}
		}
		added := 0
		if oldName == "INBOX" {
			added = 1 // INBOX is made again
		}
		if err := s.checkFolderCount(all, newName, added); err != nil {
			return err
		}
		// No new name is taken, so no step collides with another.
		for _, mv := range moves {
			if err := tx.RenameMailbox(mv.id, mv.name); err != nil {
				return err
			}
			tx.OnCommit(func() {
				s.announce(Change{Kind: ChangeFolderRenamed, AccountID: account, MailboxID: mv.id, Name: mv.name, OldName: mv.old})
			})
		}
		made, err := createParents(tx, account, newName, now)
		if err != nil {
			return err
		}
		if oldName == "INBOX" {
			m, err := tx.CreateMailbox(account, "INBOX", "", true, now)
			if err != nil {
				return err
			}
			made = append(made, m)
		}
		s.announceCreated(tx, made)
		return nil
	})
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %s", ErrFolderExists, newName)
	}
	return err
}

// SetSubscribed subscribes or unsubscribes a name. Subscriptions are
// names, not folders (RFC 9051 6.3.7): a name without a folder can be
// subscribed, as Dovecot allows, and stays subscribed when its folder is
// deleted or renamed (RFC 9051 6.3.6: RENAME does not update the
// subscriptions). Unsubscribing a name that is not subscribed
// succeeds: the list is as asked.
func (s *Service) SetSubscribed(ctx context.Context, account int64, name string, subscribed bool) error {
	name, err := NormalizeFolderName(name)
	if err != nil {
		return err
	}
	if subscribed {
		// Read before the write: a few subscriptions in flight at once may
		// pass the bound, but no more than there are sessions.
		names, err := s.db.Subscriptions(ctx, account)
		if err != nil {
			return err
		}
		if len(names) >= s.maxSubs && !slices.Contains(names, name) {
			return fmt.Errorf("%w: at most %d subscriptions", ErrLimit, s.maxSubs)
		}
	}
	return s.write(ctx, func(tx store.Tx) error {
		s.lockAccount(tx, account)
		kind := ChangeSubscribed
		if subscribed {
			if err := tx.Subscribe(account, name); err != nil {
				return err
			}
		} else {
			kind = ChangeUnsubscribed
			was, err := tx.Unsubscribe(account, name)
			if err != nil || !was {
				return err // not subscribed: nothing changed to tell
			}
		}
		tx.OnCommit(func() { s.announce(Change{Kind: kind, AccountID: account, Name: name}) })
		return nil
	})
}

// Subscriptions returns an account's subscribed names in order; some may
// name no folder.
func (s *Service) Subscriptions(ctx context.Context, account int64) ([]string, error) {
	names, err := s.db.Subscriptions(ctx, account)
	s.noteRead(ctx, store.AccountKey(account))
	return names, err
}

// ClaimRecent claims a folder's \Recent messages for a session that
// selects it read-write (RFC 3501 2.3.2): the UIDs from first (at least
// atLeast, which the caller already gave to a session) up to next, which
// no later session gets. Claims are made in the store, so they survive a
// restart and two nodes never claim the same message.
func (s *Service) ClaimRecent(ctx context.Context, folder int64, atLeast uint32) (first, next uint32, err error) {
	err = s.write(ctx, func(tx store.Tx) error {
		var err error
		first, next, err = tx.ClaimRecent(folder, atLeast)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("%w: %d", ErrNoSuchFolder, folder)
	}
	return first, next, err
}

// WatchAccount runs fn with an account's folders and subscribed names
// while no change to either commits on this node: a watcher that fn
// registers is told of every change after what it was given, and of
// none before. fn must be quick and must not write.
func (s *Service) WatchAccount(ctx context.Context, account int64, fn func(folders []Folder, subscribed []string)) error {
	l := s.accountLock(account)
	l.Lock()
	defer l.Unlock()
	subscribed, err := s.Subscriptions(ctx, account)
	if err != nil {
		return err
	}
	folders, err := s.Folders(ctx, account)
	if err != nil {
		return err
	}
	fn(folders, subscribed)
	return nil
}

// lockAccount makes tx hold the account's lock from now until its
// changes are announced. Every write that changes an account's folders
// or subscriptions takes it, so that WatchAccount sees each such change
// either in what it reads or as an announcement after it. A commit may
// hold it with folders' locks, in any order: only the one writer
// goroutine takes more than one, and no reader waits for one while
// holding another.
func (s *Service) lockAccount(tx store.Tx, account int64) {
	tx.Lock(store.AccountKey(account), s.accountLock(account))
}

func (s *Service) accountLock(account int64) *sync.Mutex {
	l, _ := s.accounts.LoadOrStore(account, new(sync.Mutex))
	return l.(*sync.Mutex)
}

// FolderHasChildren reports whether any of folders is below name.
func FolderHasChildren(folders []Folder, name string) bool {
	prefix := name + string(Delimiter)
	return slices.ContainsFunc(folders, func(f Folder) bool { return strings.HasPrefix(f.Name, prefix) })
}
