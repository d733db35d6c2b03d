package imap

import (
	"context"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"pillarbox/mailbox"
)

// Create makes a folder (RFC 9051 6.3.4), with a special use if asked
// (RFC 6154 CREATE-SPECIAL-USE). A trailing delimiter is only a hint that
// the folder will have children.
func (s *session) Create(name string, options *imap.CreateOptions) error {
	ctx, cancel := s.ctx()
	defer cancel()
	var use string
	switch len(options.SpecialUse) {
	case 0:
	case 1:
		use = string(options.SpecialUse[0])
	default:
		return no(codeUseAttr, "A mailbox can have one special use")
	}
	name = strings.TrimSuffix(name, string(mailbox.Delimiter))
	s.busy.Lock()
	defer s.busy.Unlock()
	return s.fail("create", s.srv.svc.CreateFolder(ctx, s.account.ID, name, use))
}

// Delete removes a folder and its messages (RFC 9051 6.3.5). Other
// sessions that have it selected are told BYE; this session, if it had it
// selected, is left with nothing selected.
func (s *session) Delete(name string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	var selected bool
	if s.view != nil {
		f, err := s.srv.svc.Folder(ctx, s.account.ID, name)
		selected = err == nil && f.ID == s.view.folder.ID
	}
	s.busy.Lock()
	defer s.busy.Unlock()
	if err := s.srv.svc.DeleteFolder(ctx, s.account.ID, name); err != nil {
		return s.fail("delete", err)
	}
	if selected {
		s.view.close()
		s.view = nil
	}
	return nil
}

// Rename renames a folder with its children (RFC 9051 6.3.6).
func (s *session) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	ctx, cancel := s.ctx()
	defer cancel()
	s.busy.Lock()
	defer s.busy.Unlock()
	return s.fail("rename", s.srv.svc.RenameFolder(ctx, s.account.ID, oldName, newName))
}

// Subscribe adds a folder to the subscriptions (RFC 9051 6.3.7); only an
// existing folder can be subscribed.
func (s *session) Subscribe(name string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.fail("subscribe", s.srv.svc.SetSubscribed(ctx, s.account.ID, name, true))
}

// Unsubscribe removes a folder from the subscriptions.
func (s *session) Unsubscribe(name string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.fail("unsubscribe", s.srv.svc.SetSubscribed(ctx, s.account.ID, name, false))
}

// Status answers STATUS with every item asked for: the library's writer
// dereferences the fields of the items without checking them.
func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	f, err := s.srv.svc.Folder(ctx, s.account.ID, name)
	if err != nil {
		return nil, s.fail("status", err)
	}
	data, err := s.status(ctx, f, options)
	return data, s.fail("status", err)
}

func (s *session) status(ctx context.Context, f mailbox.Folder, o *imap.StatusOptions) (*imap.StatusData, error) {
	var c mailbox.FolderCounts
	// Read the folder and its totals together: UIDNEXT and MESSAGES must
	// agree.
	err := s.srv.svc.ReadMailbox(ctx, f.ID, nil, func(r *mailbox.Reader) error {
		f, c = r.Folder(), r.Counts()
		return nil
	})
	if err != nil {
		return nil, err
	}
	d := &imap.StatusData{Mailbox: f.Name, UIDNext: imap.UID(f.UIDNext), UIDValidity: f.UIDValidity}
	zero := uint32(0)
	limit := s.AppendLimit()
	d.NumMessages = &c.Messages
	d.NumUnseen = &c.Unseen
	d.NumDeleted = &c.Deleted
	d.Size = &c.Size
	d.DeletedStorage = &c.DeletedSize
	d.NumRecent = &zero
	d.AppendLimit = &limit
	d.HighestModSeq = 0
	return d, nil
}

// List answers LIST (RFC 9051 6.3.9, with RFC 5258 LIST-EXTENDED, RFC
// 5819 LIST-STATUS and RFC 6154 SPECIAL-USE) and LSUB.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	ctx, cancel := s.ctx()
	defer cancel()
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter and the root.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: mailbox.Delimiter})
	}
	folders, err := s.srv.svc.Folders(ctx, s.account.ID)
	if err != nil {
		return s.fail("list", err)
	}
	ref = canonicalInbox(ref)
	for i, p := range patterns {
		if ref == "" {
			patterns[i] = canonicalInbox(p)
		}
	}
	matches := func(name string) bool {
		for _, p := range patterns {
			if imapserver.MatchList(name, mailbox.Delimiter, ref, p) {
				return true
			}
		}
		return false
	}
	byName := make(map[string]*mailbox.Folder, len(folders))
	for i := range folders {
		byName[folders[i].Name] = &folders[i]
	}
	// Levels that are not folders themselves but have folders below them
	// (left by DELETE): LIST shows them as \Noselect when a '%' stops at
	// them (RFC 9051 6.3.9).
	var names []string
	levels := make(map[string]bool)
	for _, f := range folders {
		names = append(names, f.Name)
		for i := 0; i < len(f.Name); i++ {
			if f.Name[i] == mailbox.Delimiter {
				if p := f.Name[:i]; byName[p] == nil && !levels[p] {
					levels[p] = true
					names = append(names, p)
				}
			}
		}
	}
	slices.Sort(names)

	subscribedOnly := options.SelectSubscribed
	for _, name := range names {
		f := byName[name]
		hasChildren := hasChild(names, name)
		var childSubscribed bool
		if options.SelectRecursiveMatch {
			childSubscribed = slices.ContainsFunc(folders, func(c mailbox.Folder) bool {
				return c.Subscribed && strings.HasPrefix(c.Name, name+string(mailbox.Delimiter))
			})
		}
		if !matches(name) {
			continue
		}
		selected := true
		switch {
		case f == nil:
			// A level without a folder: only where '%' ends at it, or as
			// the parent of a subscribed folder with RECURSIVEMATCH.
			selected = (childSubscribed && options.SelectRecursiveMatch) ||
				(!subscribedOnly && !options.SelectSpecialUse && percentMatch(name, ref, patterns))
		case subscribedOnly && !f.Subscribed:
			selected = childSubscribed
		case options.SelectSpecialUse && f.SpecialUse == "":
			selected = false
		}
		if !selected {
			continue
		}
		data := &imap.ListData{Delim: mailbox.Delimiter, Mailbox: name}
		if f == nil {
			data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
			if subscribedOnly {
				data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
			}
		}
		if hasChildren {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if f != nil && f.Subscribed && (options.ReturnSubscribed || subscribedOnly) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if f != nil && f.SpecialUse != "" {
			// RFC 6154 5.1 lets the server show them unasked; many clients
			// depend on it.
			data.Attrs = append(data.Attrs, imap.MailboxAttr(f.SpecialUse))
		}
		if childSubscribed && (f == nil || subscribedOnly && !f.Subscribed) {
			data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
		}
		if options.ReturnStatus != nil && f != nil {
			if data.Status, err = s.status(ctx, *f, options.ReturnStatus); err != nil {
				return s.fail("list", err)
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// canonicalInbox writes a leading INBOX level in upper case: INBOX is
// case-insensitive (RFC 9051 5.1), and so are patterns for it.
func canonicalInbox(s string) string {
	if len(s) >= 5 && strings.EqualFold(s[:5], "INBOX") && (len(s) == 5 || s[5] == mailbox.Delimiter) {
		return "INBOX" + s[5:]
	}
	return s
}

func hasChild(sortedNames []string, name string) bool {
	prefix := name + string(mailbox.Delimiter)
	i, _ := slices.BinarySearch(sortedNames, prefix)
	return i < len(sortedNames) && strings.HasPrefix(sortedNames[i], prefix)
}

// percentMatch reports whether some pattern matches name with a '%' that
// stops at its end, where a level without a folder is shown.
func percentMatch(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if strings.Contains(p, "%") && !strings.Contains(p, "*") &&
			imapserver.MatchList(name, mailbox.Delimiter, ref, p) {
			return true
		}
	}
	return false
}
