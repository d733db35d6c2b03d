package imap

import (
	"context"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// Create makes a folder (RFC 9051 6.3.4), with a special use if asked
// (RFC 6154 CREATE-SPECIAL-USE). A trailing delimiter is only a hint that
// the folder will have children.
func (s *session) cmdCreate(c *wire.Create) (result, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	name := c.Mailbox
	var use string
	switch len(c.SpecialUse) {
	case 0:
	case 1:
		use = string(c.SpecialUse[0])
	default:
		return result{}, no(codeUseAttr, "A mailbox can have one special use")
	}
	name = strings.TrimSuffix(name, string(mailbox.Delimiter))
	s.busy.Lock()
	err := s.srv.svc.CreateFolder(ctx, s.account.ID, name, use)
	s.busy.Unlock()
	if err != nil {
		return result{}, s.fail("create", err)
	}
	// RFC 8474 4.1: the new mailbox's id in the OK.
	f, err := s.srv.svc.Folder(ctx, s.account.ID, name)
	if err != nil {
		return result{}, nil // made, but gone or renamed already
	}
	return result{code: "MAILBOXID (" + mailboxID(f.ID) + ")", text: "CREATE completed"}, nil
}

// Delete removes a folder and its messages (RFC 9051 6.3.5). Other
// sessions that have it selected are told BYE; this session, if it had it
// selected, is left with nothing selected. Its name stays subscribed if it
// was (RFC 9051 6.3.7: the server does not remove a name from the
// subscriptions on its own); LIST (SUBSCRIBED) then shows it \NonExistent.
func (s *session) cmdDelete(name string) error {
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
		s.closeView() // and the searches kept up to date there
	}
	return nil
}

// Rename renames a folder with its children (RFC 9051 6.3.6). The
// subscriptions stay with the old names: RFC 9051 6.3.6 says RENAME does
// not update them, and a client that wants them moved sends SUBSCRIBE and
// UNSUBSCRIBE itself.
func (s *session) cmdRename(c *wire.Rename) error {
	ctx, cancel := s.ctx()
	defer cancel()
	s.busy.Lock()
	defer s.busy.Unlock()
	return s.fail("rename", s.srv.svc.RenameFolder(ctx, s.account.ID, c.From, c.To))
}

// setSubscribed adds a name to the subscriptions or removes it (RFC 9051
// 6.3.7 and 6.3.8). The name needs no mailbox: the RFC lets a server
// refuse such a name, and Dovecot, like Pillarbox, does not.
func (s *session) setSubscribed(name string, on bool) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.fail("subscribe", s.srv.svc.SetSubscribed(ctx, s.account.ID, name, on))
}

// cmdStatus answers STATUS (RFC 9051 6.3.11).
func (s *session) cmdStatus(c *wire.Status) error {
	ctx, cancel := s.ctx()
	defer cancel()
	if c.Options.HighestModSeq {
		if err := s.condStoreOn(); err != nil {
			return err
		}
	}
	f, err := s.srv.svc.Folder(ctx, s.account.ID, c.Mailbox)
	if err != nil {
		return s.fail("status", err)
	}
	if err := s.writeStatusID(ctx, f, &c.Options, c.MailboxID); err != nil {
		return s.fail("status", err)
	}
	return nil
}

// writeStatus writes a STATUS response with the items o asks for.
func (s *session) writeStatus(ctx context.Context, f mailbox.Folder, o *imap.StatusOptions) error {
	return s.writeStatusID(ctx, f, o, false)
}

// writeStatusID is writeStatus with MAILBOXID (RFC 8474) when asked.
func (s *session) writeStatusID(ctx context.Context, f mailbox.Folder, o *imap.StatusOptions, withID bool) error {
	var c mailbox.FolderCounts
	var recent uint32
	var hms uint64
	// Read the folder and its totals together: UIDNEXT and MESSAGES must
	// agree.
	err := s.srv.svc.ReadMailbox(ctx, f.ID, nil, func(r *mailbox.Reader) error {
		f, c = r.Folder(), r.Counts()
		hms = r.HighestModSeq()
		if floor := s.srv.hub.recentFloor(f); o.NumRecent && floor < f.UIDNext {
			var err error
			recent, err = r.CountUIDs(floor, f.UIDNext-1)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	w := s.w
	w.Untagged()
	w.Token("STATUS ")
	s.writeMailbox(f.Name)
	w.Token(" (")
	sep := func() {}
	item := func(name string, n uint64) {
		sep()
		sep = w.SP
		w.Token(name)
		w.SP()
		w.Number64(n)
	}
	if o.NumMessages {
		item("MESSAGES", uint64(c.Messages))
	}
	if o.UIDNext {
		item("UIDNEXT", uint64(f.UIDNext))
	}
	if o.UIDValidity {
		item("UIDVALIDITY", uint64(f.UIDValidity))
	}
	if o.NumUnseen {
		item("UNSEEN", uint64(c.Unseen))
	}
	if o.NumDeleted {
		item("DELETED", uint64(c.Deleted))
	}
	if o.Size {
		item("SIZE", uint64(c.Size))
	}
	if o.AppendLimit {
		item("APPENDLIMIT", uint64(s.srv.opts.AppendLimit))
	}
	if o.DeletedStorage {
		item("DELETED-STORAGE", uint64(c.DeletedSize))
	}
	if o.NumRecent {
		item("RECENT", uint64(recent))
	}
	if o.HighestModSeq {
		item("HIGHESTMODSEQ", hms)
	}
	if withID {
		sep()
		w.Token("MAILBOXID (" + mailboxID(f.ID) + ")")
	}
	w.Token(")")
	w.CRLF()
	return nil
}

// cmdList answers LIST (RFC 9051 6.3.9, with RFC 5258 LIST-EXTENDED, RFC
// 5819 LIST-STATUS and RFC 6154 SPECIAL-USE); LSUB is cmdLsub.
func (s *session) cmdList(c *wire.List) error {
	ctx, cancel := s.ctx()
	defer cancel()
	ref, patterns, options := c.Reference, slices.Clone(c.Patterns), &c.Options
	if len(patterns) == 1 && patterns[0] == "" {
		// LIST "" "": the hierarchy delimiter and the root.
		s.writeList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: mailbox.Delimiter})
		return nil
	}
	folders, err := s.srv.svc.Folders(ctx, s.account.ID)
	if err != nil {
		return s.fail("list", err)
	}
	// Only the SUBSCRIBED options ask for the subscriptions: a plain LIST,
	// the one mail apps send at every connection, does without that read.
	var subscribed []string
	if options.SelectSubscribed || options.ReturnSubscribed || options.SelectRecursiveMatch {
		if subscribed, err = s.srv.svc.Subscriptions(ctx, s.account.ID); err != nil {
			return s.fail("list", err)
		}
	}
	ref = canonicalInbox(ref)
	for i, p := range patterns {
		if ref == "" {
			patterns[i] = canonicalInbox(p)
		}
	}
	if err := boundPatterns(&ref, patterns); err != nil {
		return err
	}
	matched := make(map[string]bool)
	matches := func(name string) bool {
		m, ok := matched[name]
		if !ok {
			m = matchAny(name, ref, patterns)
			matched[name] = m
		}
		return m
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
		s.writeList(data)
		if options.ReturnStatus != nil && f != nil {
			// RFC 5819: the STATUS response follows its LIST response.
			if err := s.writeStatus(ctx, *f, options.ReturnStatus); err != nil {
				return s.fail("list", err)
			}
		}
	}
	return nil
}

// cmdLsub answers LSUB (RFC 3501 6.3.9) from the subscribed names
// alone, whether their folders exist or not. Where a '%' stops at a level
// above a subscribed name and that level is not subscribed itself, the
// level is shown with \Noselect.
func (s *session) cmdLsub(c *wire.Lsub) error {
	ctx, cancel := s.ctx()
	defer cancel()
	subscribed, err := s.srv.svc.Subscriptions(ctx, s.account.ID)
	if err != nil {
		return s.fail("lsub", err)
	}
	ref := canonicalInbox(c.Reference)
	patterns := []string{c.Pattern}
	if ref == "" {
		patterns[0] = canonicalInbox(c.Pattern)
	}
	if err := boundPatterns(&ref, patterns); err != nil {
		return err
	}
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
		s.writeListAs("LSUB", d)
	}
	return nil
}

// writeList writes a LIST response (RFC 9051 7.3.1) with its extended
// data (RFC 5258 CHILDINFO).
func (s *session) writeList(d *imap.ListData) { s.writeListAs("LIST", d) }

func (s *session) writeListAs(name string, d *imap.ListData) {
	w := s.w
	w.Untagged()
	w.Token(name)
	w.Token(" (")
	for i, a := range d.Attrs {
		if i > 0 {
			w.SP()
		}
		w.Token(string(a))
	}
	w.Token(") ")
	if d.Delim == 0 {
		w.NIL()
	} else {
		w.String(string(d.Delim))
	}
	w.SP()
	s.writeMailbox(d.Mailbox)
	if d.ChildInfo != nil && d.ChildInfo.Subscribed {
		w.Token(` ("CHILDINFO" ("SUBSCRIBED"))`)
	}
	if d.OldName != "" {
		// RFC 5465 5.4: a renamed folder's former name.
		w.Token(` ("OLDNAME" (`)
		s.writeMailbox(d.OldName)
		w.Token("))")
	}
	w.CRLF()
}

// maxListPatternOctets bounds the reference and patterns of one LIST or
// LSUB, counted once per pattern, after runs of wildcards are made one:
// matchList's work is the product of a name's length and a pattern's, so
// this bounds LIST's work per octet of folder name. A folder name has at
// most 1000 octets, and a pattern that can match one at most twice as
// many (a wildcard around each).
const maxListPatternOctets = 4096

// boundPatterns replaces each run of wildcards in ref and patterns by
// the one wildcard it amounts to ('*' if it holds one, else '%'), and
// refuses with NO [LIMIT] patterns longer together than LIST needs.
func boundPatterns(ref *string, patterns []string) error {
	*ref = collapseWildcards(*ref)
	total := 0
	for i, p := range patterns {
		patterns[i] = collapseWildcards(p)
		total += len(*ref) + len(patterns[i])
	}
	if total > maxListPatternOctets {
		return no(imap.ResponseCodeLimit, "Mailbox patterns too long")
	}
	return nil
}

// collapseWildcards makes each run of '*' and '%' in a LIST pattern one
// wildcard: '*' if the run holds one ("%*" matches what "*" does), '%'
// otherwise.
func collapseWildcards(p string) string {
	if !strings.Contains(p, "**") && !strings.Contains(p, "%%") && !strings.Contains(p, "*%") && !strings.Contains(p, "%*") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		if p[i] != '*' && p[i] != '%' {
			b.WriteByte(p[i])
			i++
			continue
		}
		w := byte('%')
		for ; i < len(p) && (p[i] == '*' || p[i] == '%'); i++ {
			if p[i] == '*' {
				w = '*'
			}
		}
		b.WriteByte(w)
	}
	return b.String()
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if matchList(name, ref, p) {
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
			matchList(name, ref, p) {
			return true
		}
	}
	return false
}

// matchList reports whether name matches the reference and pattern of a
// LIST (RFC 9051 6.3.9): '*' matches any characters, '%' any but the
// hierarchy delimiter. The pattern is appended to the reference. Dynamic
// programming over positions keeps it linear in each, whatever the
// wildcards.
func matchList(name, ref, pattern string) bool {
	p := ref + pattern
	// ok[j]: name[:i] matches p[:j], for the current i.
	ok := make([]bool, len(p)+1)
	ok[0] = true
	for j := 1; j <= len(p); j++ {
		ok[j] = ok[j-1] && (p[j-1] == '*' || p[j-1] == '%')
	}
	prev := make([]bool, len(p)+1)
	for i := 1; i <= len(name); i++ {
		copy(prev, ok)
		c := name[i-1]
		ok[0] = false
		for j := 1; j <= len(p); j++ {
			switch pc := p[j-1]; pc {
			case '*':
				ok[j] = ok[j-1] || prev[j]
			case '%':
				ok[j] = ok[j-1] || (prev[j] && c != mailbox.Delimiter)
			default:
				ok[j] = prev[j-1] && pc == c
			}
		}
	}
	return ok[len(p)]
}

// writeMailbox writes a mailbox name as a string (INBOX as an atom), as
// Dovecot does and as some clients expect: in modified UTF-7 (RFC 3501 5.1.3), or UTF-8 once
// the client enabled UTF8=ACCEPT.
func (s *session) writeMailbox(name string) {
	if strings.EqualFold(name, "INBOX") {
		s.w.Token("INBOX")
		return
	}
	if !s.enabled.utf8 {
		name = wire.EncodeMUTF7(name)
	}
	s.w.String(name)
}
