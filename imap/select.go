package imap

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// systemFlags are the flags every mailbox offers (FLAGS); keywords can be
// made by any client (\* in PERMANENTFLAGS).
var systemFlags = []imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft}

// cmdSelect opens a folder (SELECT or EXAMINE, RFC 9051 6.3.2 and
// 6.3.3). The folder selected before is closed first, even if this one
// cannot be opened.
func (s *session) cmdSelect(c *wire.Select) (result, error) {
	if c.QResync != nil && !s.enabled.qresync {
		return result{}, bad("QRESYNC needs ENABLE QRESYNC first")
	}
	if c.CondStore {
		s.enabled.condstore = true
	}
	if s.view != nil {
		s.closeView()
		// RFC 9051 7.1: CLOSED tells the client that updates of the old
		// folder end here.
		s.w.StatusResponse("", wire.OK, "CLOSED", "Previous mailbox is now closed")
	}
	ctx, cancel := s.ctx()
	defer cancel()
	f, err := s.srv.svc.Folder(ctx, s.account.ID, c.Mailbox)
	if err != nil {
		return result{}, s.fail("select", err)
	}
	var recentFrom, recentTo uint32
	if !c.ReadOnly {
		if recentFrom, recentTo, err = s.claimRecent(ctx, f); err != nil {
			return result{}, s.fail("select", err)
		}
	}
	rev1 := !s.enabled.rev2
	var v *view
	var keywords []string
	var counts mailbox.FolderCounts
	var firstUnseen uint32
	var hms uint64
	bye := s.dropBye(f.ID)
	err = s.srv.svc.ReadMailbox(ctx, f.ID, func(f mailbox.Folder, fc mailbox.FolderCounts) {
		v = s.srv.hub.attach(f, fc.Messages, c.ReadOnly, recentFrom, recentTo, bye)
	}, func(r *mailbox.Reader) error {
		var err error
		if keywords, err = r.Keywords(); err != nil {
			return err
		}
		f, counts = r.Folder(), r.Counts()
		hms = r.HighestModSeq()
		if v.recentTo != 0 {
			if v.recentCount, err = r.CountUIDs(v.recentFrom, v.recentTo); err != nil {
				return err
			}
		}
		if rev1 {
			// The snapshot is the client's view: it was just attached.
			if firstUnseen, err = r.FirstUnseen(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if v != nil {
			v.close()
		}
		return result{}, s.fail("select", err)
	}
	// FLAGS and PERMANENTFLAGS list the folder's keywords too (RFC 9051
	// 7.3.5), which the box keeps for announcing new ones.
	v.box.knowKeywords(keywords)
	flags := append(slices.Clone(systemFlags), keywordFlags(keywords)...)
	w := s.w
	w.Untagged()
	w.Number(counts.Messages)
	w.Token(" EXISTS")
	w.CRLF()
	if rev1 {
		w.Untagged()
		w.Number(v.recentCount)
		w.Token(" RECENT")
		w.CRLF()
	}
	w.Untagged()
	w.Token("FLAGS ")
	w.Flags(flags)
	w.CRLF()
	perm := []imap.Flag{}
	if !c.ReadOnly {
		perm = slices.Clone(flags)
		// A folder with all the keywords it may have takes no new one
		// (RFC 9051 7.1: \* says new keywords can be made).
		if len(keywords) < mailbox.MaxFolderKeywords {
			perm = append(perm, imap.FlagWildcard)
		}
	}
	w.Untagged()
	w.Token("OK [PERMANENTFLAGS ")
	w.Flags(perm)
	w.Token("] Flags permitted")
	w.CRLF()
	if rev1 && firstUnseen > 0 {
		w.StatusResponse("", wire.OK, "UNSEEN "+strconv.FormatUint(uint64(firstUnseen), 10), "First unseen")
	}
	w.StatusResponse("", wire.OK, "UIDVALIDITY "+strconv.FormatUint(uint64(f.UIDValidity), 10), "UIDs valid")
	w.StatusResponse("", wire.OK, "UIDNEXT "+strconv.FormatUint(uint64(f.UIDNext), 10), "Predicted next UID")
	w.StatusResponse("", wire.OK, "MAILBOXID ("+mailboxID(f.ID)+")", "Mailbox id") // RFC 8474 4
	if !rev1 {
		// RFC 9051 6.3.2: the mailbox's LIST response, for its name as
		// the server spells it.
		w.Untagged()
		w.Token(`LIST () "/" `)
		s.writeMailbox(f.Name)
		w.CRLF()
	}
	if s.enabled.condstore {
		w.StatusResponse("", wire.OK, "HIGHESTMODSEQ "+strconv.FormatUint(hms, 10), "Highest")
	}
	v.tellKeywords(flags)
	s.view = v
	if c.QResync != nil {
		if err := s.qresync(c.QResync); err != nil {
			return result{}, err
		}
	}
	if c.ReadOnly {
		return result{code: "READ-ONLY", text: "EXAMINE completed"}, nil
	}
	return result{code: "READ-WRITE", text: "SELECT completed"}, nil
}

// keywordFlags turns keywords into flags.
func keywordFlags(kws []string) []imap.Flag {
	out := make([]imap.Flag, len(kws))
	for i, k := range kws {
		out[i] = imap.Flag(k)
	}
	return out
}

// dropBye returns the view's bye: the box dropped the view because its
// client left too many changes unreported (box.trimLocked), so the
// session ends, as it does when its account goes (RFC 9051 7.1.5). It is
// called under the box's lock, so the BYE is written by a goroutine of
// its own; a command that holds the writer meanwhile answers with
// errDropped and BYE itself.
func (s *session) dropBye(folder int64) func() {
	user, ip := s.account.Address, s.ip // read here, not by that goroutine
	return func() {
		go func() {
			s.srv.log.Info("imap: session ended: too many changes not reported", "user", user, "remote", ip, "mailbox", folder)
			s.writeBye(byeDropped)
		}()
	}
}

// closeView closes the selected folder (UNSELECT, CLOSE, a new SELECT),
// and with it the searches kept up to date there.
func (s *session) closeView() {
	s.updates = nil
	if s.view != nil {
		s.view.close()
		s.view = nil
	}
}

// cmdClose expunges (unless the folder is read-only) and closes the
// folder without telling the client of the expunges (RFC 9051 6.4.2).
func (s *session) cmdClose() (result, error) {
	v := s.view
	if !v.readOnly {
		ctx, cancel := s.ctx()
		defer cancel()
		s.busy.Lock()
		err := s.expunge(ctx, v, nil)
		s.busy.Unlock()
		if err != nil {
			return result{}, s.fail("close", err)
		}
	}
	s.closeView()
	return result{}, nil
}

// holdBackExpunge is told, for a QRESYNC session, that an expunge with
// the given MODSEQ is held back (the command may not carry EXPUNGE). If
// the command showed a MODSEQ as high, a client that lost the connection
// now and resynchronised from that MODSEQ would never hear of the
// expunge. So the server then sends HIGHESTMODSEQ below the expunge's,
// which the client keeps instead (QRESYNC, RFC 5162's verified erratum
// 1810; RFC 7162 replaced RFC 5162).
func (s *session) holdBackExpunge(modSeq uint64) {
	if !s.enabled.qresync || s.shownModSeq < modSeq || modSeq == 0 {
		return
	}
	s.w.StatusResponse("", wire.OK, "HIGHESTMODSEQ "+strconv.FormatUint(modSeq-1, 10), "Some expunges are not yet reported")
	s.shownModSeq = modSeq - 1
}

// tellsUpTo has the running command's poll tell the changes up to its
// search's snapshot only, for a SEARCH, SORT or THREAD: once its tagged
// response is in, the client knows the folder as the result describes it.
// A message that came during the search is told at the next command
// instead, not just after a result that could not include it.
func (s *session) tellsUpTo() {
	s.pollUpTo = s.searched
}

// boxVersion is a box's version, if set.
type boxVersion struct {
	v   uint64
	set bool
}

// pollView writes the changes others made that the client has not been
// told of, in the order they committed: all of them, or those before the
// first expunge unless allowExpunge. It runs under the writer's lock.
func (s *session) pollView(allowExpunge bool) error {
	v := s.view
	if why := v.goneReason(); why != "" {
		// The folder's deletion may not be durable yet.
		s.owed.Note(s.srv.svc.FolderCommit(v.folder.ID))
		s.w.StatusResponse("", wire.BYE, "", why)
		s.flush()
		s.markEnded()
		return errClose
	}
	all := v.pending()
	evs := all
	if lim := s.pollUpTo; lim.set {
		// v.applied is the version before all[0]; only this session
		// changes it.
		evs = all[:min(uint64(len(all)), lim.v-min(lim.v, v.applied))]
	}
	if len(evs) == 0 {
		return nil
	}
	// The changes were committed up to the folder's last commit.
	s.owed.Note(s.srv.svc.FolderCommit(v.folder.ID))
	w := s.w
	// known is the count after the changes so far; told is what the
	// client was told. EXISTS is put off until a response needs the new
	// messages, or the end: a MOVE within the folder then reads, as
	// Dovecot sends it, EXPUNGE and then EXISTS.
	known := v.known
	told := known
	// With QRESYNC, expunges are told as VANISHED UIDs (RFC 7162
	// 3.2.10), gathered until a response needs the numbers.
	var vanished []mailbox.UIDRange
	writeVanished := func() {
		s.writeVanished(normalize(vanished), false)
		vanished = nil
	}
	writeExists := func() {
		writeVanished()
		if told != known {
			w.Untagged()
			w.Number(known)
			w.Token(" EXISTS")
			w.CRLF()
			told = known
		}
	}
	recentChanged := false
	// last is the index of each message's last flag change among the
	// events this poll may write (up to the first expunge it must not);
	// others says which messages another session changed among them.
	last := make(map[uint32]int)
	others := make(map[uint32]bool)
	for i := range evs {
		e := &evs[i]
		if e.kind == eventExpunged && !allowExpunge {
			break
		}
		if e.kind == eventFlags {
			last[e.uid] = i
			others[e.uid] = others[e.uid] || e.origin != v
		}
	}
	n := 0
	// added are the new messages told, which NOTIFY may ask to fetch.
	var added mailbox.UIDSet
loop:
	for i := range evs {
		e := &evs[i]
		switch e.kind {
		case eventAdded:
			known = e.n
			if v.addRecent(e) {
				recentChanged = true
			}
			if s.newFetch != nil {
				if k := len(added) - 1; k >= 0 && added[k].Stop+1 == e.uid {
					added[k].Stop = e.uid
				} else {
					added = append(added, mailbox.UIDRange{Start: e.uid, Stop: e.uid})
				}
			}
		case eventExpunged:
			if !allowExpunge {
				s.holdBackExpunge(e.modSeq)
				break loop
			}
			v.dropRecent(e.uid)
			if e.n > told {
				writeExists()
			}
			s.expungedFromUpdates(e.uid, e.n)
			told--
			if s.enabled.qresync {
				vanished = append(vanished, mailbox.UIDRange{Start: e.uid, Stop: e.uid})
			} else {
				w.Untagged()
				w.Number(e.n)
				w.Token(" EXPUNGE")
				w.CRLF()
			}
			known--
		case eventFlags:
			if last[e.uid] != i || !others[e.uid] || v.shown[e.uid] >= e.modSeq {
				// A later change of the same message says more (an
				// earlier one after it would show the MODSEQ going
				// back); the session that stored the flags answered
				// itself, unless another session changed them too; and
				// a FETCH of this session showed them as new or newer.
				break
			}
			if e.n > told {
				writeExists()
			}
			writeVanished()
			s.writeFlagsFetch(e.n, e.uid, e.flags, e.modSeq)
		case eventFolderFlags:
			if v.untold(e.flags) {
				writeVanished()
				s.writeFolderFlags(e.flags)
			}
		}
		n++
	}
	writeExists()
	if recentChanged && !s.enabled.rev2 {
		w.Untagged()
		w.Number(v.recentCount)
		w.Token(" RECENT")
		w.CRLF()
	}
	v.apply(n, known)
	if n == len(all) {
		v.shown = nil // every change is told: none is stale
	}
	if len(added) > 0 && s.newFetch != nil { // nil unless NOTIFY is in force
		// RFC 5465 5.2: the attributes NOTIFY asked for, after EXISTS. A
		// message expunged meanwhile is left out; nothing sets \Seen. It
		// is no part of the command running: a failure is logged, not
		// that command's answer.
		ctx, cancel := s.ctx()
		err := s.fetchUIDs(ctx, v, added, s.newFetch)
		cancel()
		if errors.Is(err, errClose) {
			return err
		}
		if err != nil {
			s.srv.log.Warn("imap: NOTIFY fetch of new messages", "mailbox", v.folder.ID, "err", err)
		}
	}
	if n > 0 && len(s.updates) > 0 {
		// RFC 5267 4.3: what changed may change the searches kept up to
		// date.
		return s.refreshUpdates()
	}
	return nil
}

// cmdIdle waits for DONE, writing every change as it commits (RFC 2177,
// RFC 9051 6.3.13).
func (s *session) cmdIdle() (result, error) {
	s.w.Continue("idling")
	if err := s.flush(); err != nil {
		return result{}, errClose
	}
	// The changes are written by this goroutine while another waits for
	// DONE; the writer's lock is let go meanwhile, so that BYE can be
	// written.
	s.inCommand = false
	s.unlock()
	s.nc.SetReadDeadline(time.Now().Add(authTimeout))
	done := make(chan error, 1)
	go func() { done <- s.r.ReadIdleDone() }()
	var notify chan struct{}
	if s.view != nil {
		notify = s.view.notify
		select {
		case notify <- struct{}{}: // look once at once
		default:
		}
	}
	// push writes what write has to say at once; on failure the
	// connection is closed, which ends the wait for DONE too.
	push := func(write func() error) bool {
		s.lock()
		err := write()
		if err == nil {
			err = s.flush()
		}
		s.unlock()
		if err != nil {
			s.nc.Close()
			<-done
			s.lock()
			s.inCommand = true
			return false
		}
		return true
	}
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-s.notify.wake:
			if !push(s.writeNotified) {
				return result{}, errClose
			}
		case <-notify:
			if !push(func() error { return s.pollView(true) }) {
				return result{}, errClose
			}
		}
	}
	s.lock()
	s.inCommand = true
	var we *wire.Error
	var ne net.Error
	switch {
	case errors.As(err, &we) && we.Fatal:
		// The framing is lost (a line over the limit): as in the command
		// loop, BAD and BYE.
		s.w.ErrorResponse(we)
		s.w.StatusResponse("", wire.BYE, "", "Cannot read the command, closing")
		s.flush()
		s.markEnded()
		return result{}, errClose
	case errors.As(err, &we):
		return result{}, bad(we.Reason)
	case errors.As(err, &ne) && ne.Timeout():
		s.w.StatusResponse("", wire.BYE, "", "Autologout; timed out waiting for the client")
		s.flush()
		s.markEnded()
		return result{}, errClose
	case err != nil:
		return result{}, errClose
	}
	return result{text: "IDLE terminated"}, nil
}

// selected returns the selected view, or the error for commands that
// need one.
func (s *session) selected() (*view, error) {
	if s.view == nil {
		return nil, bad("No mailbox selected")
	}
	return s.view, nil
}

// writable returns the selected view if it may be changed (not EXAMINE).
func (s *session) writable() (*view, error) {
	v, err := s.selected()
	if err != nil {
		return nil, err
	}
	if v.readOnly {
		return nil, no("READ-ONLY", "The mailbox is open read-only (EXAMINE)")
	}
	return v, nil
}
