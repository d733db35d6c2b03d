package imap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// Store changes flags (RFC 9051 6.4.6) and answers with the new flags
// unless .SILENT; other sessions hear of the change through the tracker.
func (s *session) cmdStore(c *wire.Store) (result, error) {
	var res result
	v, err := s.writable()
	if err != nil {
		return res, err
	}
	if c.HasUnchangedSince {
		if err := s.condStoreOn(); err != nil {
			return res, err
		}
	}
	numSet, flags := c.Set, &c.Flags
	ctx, cancel := s.ctx()
	defer cancel()
	uids, lost, err := s.resolveSet(ctx, v, numSet)
	if err != nil {
		return res, s.fail("store", err)
	}
	res = lostResult(c.UID, lost)
	var op mailbox.FlagOp
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = mailbox.FlagsAdd
	case imap.StoreFlagsDel:
		op = mailbox.FlagsRemove
	default:
		op = mailbox.FlagsReplace
	}
	var modified []uint32
	s.busy.Lock()
	if c.HasUnchangedSince {
		modified, err = s.srv.svc.StoreFlagsUnchangedSince(ctx, s.account.ID, v.folder.ID, uids, op, flagNames(flags.Flags),
			c.Options.UnchangedSince, v)
	} else {
		err = s.srv.svc.StoreFlags(ctx, s.account.ID, v.folder.ID, uids, op, flagNames(flags.Flags), v)
	}
	s.busy.Unlock()
	if err != nil {
		return res, s.fail("store", err)
	}
	if op != mailbox.FlagsRemove && slices.ContainsFunc(flags.Flags, func(f imap.Flag) bool { return strings.EqualFold(string(f), string(imap.FlagDeleted)) }) {
		v.marked = true
	}
	if len(modified) > 0 {
		code, err := s.modifiedCode(ctx, modified, c.UID)
		if err != nil {
			return res, s.fail("store", err)
		}
		res.code, res.text = code, "Some messages changed since UNCHANGEDSINCE"
		uids = uids.Without(modified)
	}
	// A keyword new to the folder is announced in FLAGS before a FETCH
	// shows it (RFC 9051 7.3.5): the box has it queued for every session.
	if err := s.pollView(false); err != nil {
		return res, err
	}
	f := &fetchItems{change: true}
	f.Flags, f.UID = true, c.UID
	if flags.Silent {
		if !s.enabled.condstore {
			return res, nil
		}
		// RFC 7162 3.1.3: even .SILENT tells a CONDSTORE client the new
		// MODSEQ of what it changed (with its UID, writeMessage).
		f.Flags = false
	}
	return res, s.fetchUIDs(ctx, v, uids, f)
}

// Expunge removes the messages with \Deleted (RFC 9051 6.4.3), or those
// of them in uids (UID EXPUNGE, RFC 4315). The EXPUNGE responses come
// from the box in the poll after the command, as for every other session.
// In a folder opened with EXAMINE it is refused.
func (s *session) cmdExpunge(c *wire.Expunge) error {
	v, err := s.writable()
	if err != nil {
		return err
	}
	var uids *imap.UIDSet
	if c.UID {
		uids = &c.UIDs
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var set mailbox.UIDSet
	if uids != nil {
		if set, _, err = s.resolveSet(ctx, v, *uids); err != nil {
			return s.fail("expunge", err)
		}
		if set == nil {
			return nil
		}
	}
	s.busy.Lock()
	defer s.busy.Unlock()
	return s.fail("expunge", s.expunge(ctx, v, set))
}

// expunge removes the \Deleted messages of v's folder, those with UIDs in
// set unless it is nil, and without reading first whether any is marked
// when the session marked one itself (mailbox.Service.ExpungeMarked). It
// must run under busy.
func (s *session) expunge(ctx context.Context, v *view, set mailbox.UIDSet) error {
	expunge := s.srv.svc.Expunge
	if v.marked {
		expunge = s.srv.svc.ExpungeMarked
	}
	if err := expunge(ctx, s.account.ID, v.folder.ID, set, v); err != nil {
		return err
	}
	if set == nil {
		v.marked = false // a UID EXPUNGE may leave marked messages behind
	}
	return nil
}

// cmdCopy copies (RFC 9051 6.4.7) or moves (RFC 6851) messages to
// another folder with COPYUID (RFC 4315); copies share the stored
// message. For MOVE, COPYUID comes in an untagged OK before the EXPUNGE
// responses of the poll after the command.
func (s *session) cmdCopy(c *wire.Copy) (result, error) {
	move := c.CommandName() == "MOVE"
	v := s.view
	if move {
		var err error
		if v, err = s.writable(); err != nil {
			return result{}, err
		}
	}
	res, err := s.copy(v, c.Set, c.Mailbox, move)
	if err != nil || len(res.SrcUIDs) == 0 {
		return result{}, err
	}
	code := copyUID(res)
	if move {
		s.w.StatusResponse("", wire.OK, code, "Moved")
		return result{}, nil
	}
	return result{code: code, text: "COPY completed"}, nil
}

func (s *session) copy(v *view, numSet imap.NumSet, dest string, move bool) (mailbox.CopyResult, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	// A message expunged meanwhile is left out; the expunge is told
	// before COPY's OK, and MOVE's.
	uids, _, err := s.resolveSet(ctx, v, numSet)
	if err != nil || len(uids) == 0 {
		return mailbox.CopyResult{}, s.fail("copy", err)
	}
	s.busy.Lock()
	defer s.busy.Unlock()
	res, err := s.srv.svc.Copy(ctx, s.account.ID, v.folder.ID, uids, dest, move, v)
	if errors.Is(err, mailbox.ErrNoSuchFolder) {
		return res, no(imap.ResponseCodeTryCreate, "No such mailbox")
	}
	return res, s.fail("copy", err)
}

// copyUID is the COPYUID response code (RFC 4315 3).
func copyUID(res mailbox.CopyResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "COPYUID %d ", res.Dest.UIDValidity)
	writeUIDs(&b, res.SrcUIDs)
	b.WriteByte(' ')
	writeUIDs(&b, res.DstUIDs)
	return b.String()
}

// writeUIDs writes UIDs, in their order, as a set with ranges where they
// run on.
func writeUIDs(b *strings.Builder, uids []uint32) {
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, "%d", uids[i])
		if j > i {
			fmt.Fprintf(b, ":%d", uids[j])
		}
		i = j + 1
	}
}
