package imap

import (
	"context"
	"reflect"
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
// selected, is left with nothing selected. Its name stays subscribed if it
// was (RFC 9051 6.3.7: the server does not remove a name from the
// subscriptions on its own); LIST (SUBSCRIBED) then shows it \NonExistent.
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

// Rename renames a folder with its children (RFC 9051 6.3.6). The
// subscriptions stay with the old names: RFC 9051 6.3.6 says RENAME does
// not update them, and a client that wants them moved sends SUBSCRIBE and
// UNSUBSCRIBE itself.
func (s *session) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	ctx, cancel := s.ctx()
	defer cancel()
	s.busy.Lock()
	defer s.busy.Unlock()
	return s.fail("rename", s.srv.svc.RenameFolder(ctx, s.account.ID, oldName, newName))
}

// Subscribe adds a name to the subscriptions (RFC 9051 6.3.7). The name
// needs no mailbox: the RFC lets a server refuse such a name, and Dovecot,
// like Pillarbox, does not.
func (s *session) Subscribe(name string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.fail("subscribe", s.srv.svc.SetSubscribed(ctx, s.account.ID, name, true))
}

// Unsubscribe removes a name from the subscriptions (RFC 9051 6.3.8),
// whether or not a mailbox has it.
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
// 5819 LIST-STATUS and RFC 6154 SPECIAL-USE) and LSUB (RFC 3501 6.3.9),
// which the library passes as LIST (SUBSCRIBED) with its own writer.
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
	subscribed, err := s.srv.svc.Subscriptions(ctx, s.account.ID)
	if err != nil {
		return s.fail("list", err)
	}
	ref = canonicalInbox(ref)
	for i, p := range patterns {
		if ref == "" {
			patterns[i] = canonicalInbox(p)
		}
	}
	if isLSUB(w) {
		return lsub(w, ref, patterns, subscribed)
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
	subs := make(map[string]bool, len(subscribed))
	for _, n := range subscribed {
		subs[n] = true
	}
	// Levels that are not folders themselves but have folders below them
	// (left by DELETE): LIST shows them as \Noselect when a '%' stops at
	// them (RFC 9051 6.3.9).
	var existing []string
	levels := make(map[string]bool)
	addLevels := func(name string, into *[]string) {
		for i := 0; i < len(name); i++ {
			if name[i] == mailbox.Delimiter {
				if p := name[:i]; byName[p] == nil && !levels[p] {
					levels[p] = true
					*into = append(*into, p)
				}
			}
		}
	}
	for _, f := range folders {
		existing = append(existing, f.Name)
		addLevels(f.Name, &existing)
	}
	slices.Sort(existing)
	names := slices.Clone(existing)
	subscribedOnly := options.SelectSubscribed
	if subscribedOnly {
		// Subscribed names need no folder (RFC 5258 3.1), and with
		// RECURSIVEMATCH their parents are candidates too.
		for _, n := range subscribed {
			if byName[n] == nil && !levels[n] {
				names = append(names, n)
				addLevels(n, &names)
			}
		}
		slices.Sort(names)
		names = slices.Compact(names)
	}

	for _, name := range names {
		f := byName[name]
		// RFC 5258 3.5: with RECURSIVEMATCH a name is returned for its
		// subscribed descendants only when one of them is not returned
		// itself, that is, does not match the patterns.
		var childSubscribed bool
		if options.SelectRecursiveMatch {
			prefix := name + string(mailbox.Delimiter)
			childSubscribed = slices.ContainsFunc(subscribed, func(n string) bool {
				return strings.HasPrefix(n, prefix) && !matches(n)
			})
		}
		if !matches(name) {
			continue
		}
		selected := true
		if subscribedOnly {
			selected = subs[name] || (options.SelectRecursiveMatch && childSubscribed)
		}
		if options.SelectSpecialUse {
			selected = selected && f != nil && f.SpecialUse != ""
		}
		if f == nil && !subscribedOnly && !options.SelectSpecialUse {
			// A level without a folder: only where '%' ends at it.
			selected = percentMatch(name, ref, patterns)
		}
		if !selected {
			continue
		}
		data := &imap.ListData{Delim: mailbox.Delimiter, Mailbox: name}
		switch {
		case f == nil && subscribedOnly:
			// RFC 5258 3.4: \NonExistent implies \Noselect, which is
			// not repeated.
			data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
		case f == nil:
			data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
		}
		switch {
		case hasChild(existing, name):
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		case f != nil || levels[name]:
			// A name that is only subscribed gets neither: it is no
			// mailbox that could have children (RFC 5258 3.4's example).
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if subs[name] && (options.ReturnSubscribed || subscribedOnly) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if f != nil && f.SpecialUse != "" {
			// RFC 6154 5.1 lets the server show them unasked; many clients
			// depend on it.
			data.Attrs = append(data.Attrs, imap.MailboxAttr(f.SpecialUse))
		}
		if childSubscribed && !subs[name] {
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

// lsub answers LSUB (RFC 3501 6.3.9) from the subscribed names alone,
// whether their folders exist or not. Where a '%' stops at a level above
// a subscribed name and that level is not subscribed itself, the level is
// shown with \Noselect.
func lsub(w *imapserver.ListWriter, ref string, patterns []string, subscribed []string) error {
	subs := make(map[string]bool, len(subscribed))
	for _, n := range subscribed {
		subs[n] = true
	}
	seen := make(map[string]bool)
	var out []*imap.ListData
	for _, n := range subscribed {
		if matchAny(n, ref, patterns) && !seen[n] {
			seen[n] = true
			out = append(out, &imap.ListData{Delim: mailbox.Delimiter, Mailbox: n})
		}
		for i := 0; i < len(n); i++ {
			if n[i] != mailbox.Delimiter {
				continue
			}
			p := n[:i]
			if subs[p] || seen[p] || !percentMatch(p, ref, patterns) {
				continue
			}
			seen[p] = true
			out = append(out, &imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect},
				Delim: mailbox.Delimiter, Mailbox: p})
		}
	}
	slices.SortFunc(out, func(a, b *imap.ListData) int { return strings.Compare(a.Mailbox, b.Mailbox) })
	for _, d := range out {
		if err := w.WriteList(d); err != nil {
			return err
		}
	}
	return nil
}

// isLSUB reports whether w writes LSUB responses: imapserver passes LSUB
// to the session as LIST (SUBSCRIBED) and keeps the difference in the
// writer's unexported lsub field, which is read here (reading, not
// setting, an unexported bool is allowed by reflect). TestListWriterLayout
// fails loudly when a go-imap upgrade changes it.
func isLSUB(w *imapserver.ListWriter) bool {
	if w == nil {
		return false
	}
	f := reflect.ValueOf(w).Elem().FieldByName("lsub")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if imapserver.MatchList(name, mailbox.Delimiter, ref, p) {
			return true
		}
	}
	return false
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
