package imap

import (
	"errors"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"pillarbox/mailbox"
)

// Append stores a message (RFC 9051 6.3.12) and answers APPENDUID (RFC
// 4315). The message is analysed once, as delivery does.
func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	// The library has checked the literal's size against AppendLimit.
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, no(imap.ResponseCodeCannot, "An empty message cannot be stored")
	}
	s.busy.Lock()
	defer s.busy.Unlock()
	f, uid, err := s.srv.svc.Append(ctx, s.account.ID, name, raw, flagNames(options.Flags), options.Time)
	if errors.Is(err, mailbox.ErrNoSuchFolder) {
		return nil, no(imap.ResponseCodeTryCreate, "No such mailbox")
	}
	if err != nil {
		return nil, s.fail("append", err)
	}
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: f.UIDValidity}, nil
}

// Store changes flags (RFC 9051 6.4.6) and answers with the new flags
// unless .SILENT; other sessions hear of the change through the tracker.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	v, err := s.writable()
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	uids, err := s.resolveSet(ctx, v, numSet)
	if err != nil {
		return s.fail("store", err)
	}
	var op mailbox.FlagOp
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = mailbox.FlagsAdd
	case imap.StoreFlagsDel:
		op = mailbox.FlagsRemove
	default:
		op = mailbox.FlagsReplace
	}
	s.busy.Lock()
	err = s.srv.svc.StoreFlags(ctx, s.account.ID, v.folder.ID, uids, op, flagNames(flags.Flags), v)
	s.busy.Unlock()
	if err != nil {
		return s.fail("store", err)
	}
	if flags.Silent {
		return nil
	}
	_, isUID := numSet.(imap.UIDSet)
	return s.fetchUIDs(ctx, w, v, uids, &imap.FetchOptions{Flags: true, UID: isUID})
}

// Expunge removes the messages with \Deleted (RFC 9051 6.4.3), or those
// of them in uids (UID EXPUNGE, RFC 4315). The EXPUNGE responses come
// from the tracker in the poll after the command, as for every other
// session; CLOSE calls this too and then drops them. In a folder opened
// with EXAMINE nothing is removed.
func (s *session) Expunge(_ *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	v, err := s.selected()
	if err != nil {
		return err
	}
	if v.readOnly {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var set mailbox.UIDSet
	if uids != nil {
		if set, err = s.resolveSet(ctx, v, *uids); err != nil {
			return s.fail("expunge", err)
		}
		if set == nil {
			return nil
		}
	}
	s.busy.Lock()
	defer s.busy.Unlock()
	return s.fail("expunge", s.srv.svc.Expunge(ctx, s.account.ID, v.folder.ID, set, v))
}

// Copy copies messages to another folder (RFC 9051 6.4.7) with COPYUID
// (RFC 4315); the copies share the stored message.
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	v, err := s.selected()
	if err != nil {
		return nil, err
	}
	res, err := s.copy(v, numSet, dest, false)
	if err != nil || len(res.SrcUIDs) == 0 {
		return nil, err
	}
	return copyData(res), nil
}

// Move moves messages (RFC 6851): COPYUID first, and the EXPUNGE
// responses from the tracker in the poll after the command.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	v, err := s.writable()
	if err != nil {
		return err
	}
	res, err := s.copy(v, numSet, dest, true)
	if err != nil || len(res.SrcUIDs) == 0 {
		return err
	}
	return w.WriteCopyData(copyData(res))
}

func (s *session) copy(v *view, numSet imap.NumSet, dest string, move bool) (mailbox.CopyResult, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	uids, err := s.resolveSet(ctx, v, numSet)
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

func copyData(res mailbox.CopyResult) *imap.CopyData {
	return &imap.CopyData{
		UIDValidity: res.Dest.UIDValidity,
		SourceUIDs:  uidListSet(res.SrcUIDs),
		DestUIDs:    uidListSet(res.DstUIDs),
	}
}
