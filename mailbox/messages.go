package mailbox

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"pillarbox/store"
)

// ErrBadFlag is a flag that cannot be stored: an unknown system flag
// (starting with '\') or a keyword that is not an IMAP atom.
var ErrBadFlag = errors.New("mailbox: invalid flag")

// System flags as IMAP names them (RFC 9051 2.3.2).
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
	// FlagRecent is never set: Pillarbox has no notion of a session that
	// first saw a message. It matches no message in a search.
	FlagRecent = `\Recent`
)

var systemFlags = []struct {
	name string
	bit  int
}{
	{FlagSeen, store.FlagSeen},
	{FlagAnswered, store.FlagAnswered},
	{FlagFlagged, store.FlagFlagged},
	{FlagDeleted, store.FlagDeleted},
	{FlagDraft, store.FlagDraft},
}

// Limits on keywords, to keep a message row small.
const (
	maxKeywords   = 64
	maxKeywordLen = 100
)

// MaxFolderKeywords bounds the keywords a folder lists: every keyword its
// messages have had stays in FLAGS and PERMANENTFLAGS at SELECT and in
// each session's memory of the folder, so adding and removing keywords
// on one message would otherwise grow them without end. Past it a new
// keyword is refused (ErrLimit) and the folder's keywords keep working;
// Cyrus allows 128 user flags per mailbox. RFC 9051 section 7.1 lets a
// server stop allowing new keywords by leaving \* out of PERMANENTFLAGS.
const MaxFolderKeywords = 256

// checkFolderKeywords refuses, with ErrLimit, keywords that would take the
// folder with the given id (0: one that has none yet) past
// MaxFolderKeywords. It reads before the write, so that the writer every
// delivery waits for never waits for a reader: writes racing it may pass
// the bound by what each of them adds.
func (s *Service) checkFolderKeywords(ctx context.Context, folder int64, keywords []string) error {
	if len(keywords) == 0 {
		return nil
	}
	snap, err := s.db.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer snap.Close()
	known, err := folderKeywords(ctx, snap, folder)
	if err != nil {
		return err
	}
	if !addKeywords(known, keywords) {
		return errFolderKeywords
	}
	return nil
}

// folderIDByName returns the id of the account's folder named name
// (normalised), or 0 if there is none.
func (s *Service) folderIDByName(ctx context.Context, account int64, name string) (int64, error) {
	m, err := s.db.MailboxByName(ctx, account, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	return m.ID, err
}

var errFolderKeywords = fmt.Errorf("%w: at most %d keywords in a folder", ErrLimit, MaxFolderKeywords)

// folderKeywords returns the keywords of a folder (0: none), in lower
// case.
func folderKeywords(ctx context.Context, snap store.Snapshot, folder int64) (map[string]bool, error) {
	known := make(map[string]bool)
	if folder == 0 {
		return known, nil
	}
	have, err := snap.Keywords(ctx, folder)
	if err != nil {
		return nil, err
	}
	for _, k := range have {
		known[strings.ToLower(k)] = true
	}
	return known, nil
}

// addKeywords adds keywords to known and reports whether that stays
// within MaxFolderKeywords or adds none: a folder that has more (from
// before the bound) keeps using its own.
func addKeywords(known map[string]bool, keywords []string) bool {
	fresh := false
	for _, k := range keywords {
		if l := strings.ToLower(k); !known[l] {
			known[l], fresh = true, true
		}
	}
	return !fresh || len(known) <= MaxFolderKeywords
}

// checkCopyKeywords is checkFolderKeywords for a COPY or MOVE of the
// messages in set from the folder src to the account's folder named dest:
// the keywords of those messages. Most folders together have few, and
// then no message is read.
func (s *Service) checkCopyKeywords(ctx context.Context, account, src int64, set UIDSet, dest string) error {
	dst, err := s.folderIDByName(ctx, account, dest)
	if err != nil {
		return err
	}
	snap, err := s.db.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer snap.Close()
	if m, _, err := snap.Mailbox(ctx, src); err != nil || m.AccountID != account {
		return nil // the write refuses it
	}
	known, err := folderKeywords(ctx, snap, dst)
	if err != nil {
		return err
	}
	srcKeywords, err := snap.Keywords(ctx, src)
	if err != nil || addKeywords(maps.Clone(known), srcKeywords) {
		return err // the write finds a folder that is not there
	}
	const page = 1000
	for _, r := range set {
		for lo := r.Start; lo <= r.Stop && lo != 0; {
			last, n := uint32(0), 0
			err := snap.EachMessage(ctx, src, lo, r.Stop, page, store.ColumnsFlags, func(row *store.Message) error {
				last, n = row.UID, n+1
				if !addKeywords(known, row.Keywords) {
					return errFolderKeywords
				}
				return nil
			})
			if err != nil {
				return err
			}
			if n < page {
				break
			}
			lo = last + 1 // 0 past the highest UID: the loop ends
		}
	}
	return nil
}

// UIDRange is an inclusive range of UIDs, Start <= Stop.
type UIDRange = store.UIDRange

// UIDSet is a set of UIDs as sorted, disjoint ranges.
type UIDSet []UIDRange

// Contains reports whether uid is in the set.
func (s UIDSet) Contains(uid uint32) bool {
	_, found := slices.BinarySearchFunc(s, uid, func(r UIDRange, u uint32) int {
		switch {
		case r.Stop < u:
			return -1
		case r.Start > u:
			return 1
		}
		return 0
	})
	return found
}

// parseFlags splits IMAP flags into system flag bits and keywords:
// system flags in any case, keywords deduplicated ignoring case and kept
// as first written. \Recent is ignored: clients cannot set it.
func parseFlags(flags []string) (bits int, keywords []string, err error) {
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			found := false
			for _, sf := range systemFlags {
				if strings.EqualFold(f, sf.name) {
					bits |= sf.bit
					found = true
				}
			}
			if !found && !strings.EqualFold(f, FlagRecent) {
				return 0, nil, fmt.Errorf("%w: %s", ErrBadFlag, f)
			}
			continue
		}
		if !validKeyword(f) {
			return 0, nil, fmt.Errorf("%w: %q", ErrBadFlag, f)
		}
		if !slices.ContainsFunc(keywords, func(k string) bool { return strings.EqualFold(k, f) }) {
			keywords = append(keywords, f)
		}
	}
	if len(keywords) > maxKeywords {
		return 0, nil, fmt.Errorf("%w: more than %d keywords", ErrBadFlag, maxKeywords)
	}
	return bits, keywords, nil
}

// validKeyword reports whether k is an IMAP atom (RFC 9051 9, flag-keyword).
func validKeyword(k string) bool {
	if k == "" || len(k) > maxKeywordLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// systemFlagNames[bits] are the names of a set of system flags, shared:
// most messages have no keywords, and FETCH 1:* (FLAGS) then allocates
// nothing for their flags. Never modified.
var systemFlagNames = func() [32][]string {
	var t [32][]string
	for bits := range t {
		t[bits] = flagNamesAlloc(bits, nil)
	}
	return t
}()

// flagNames returns the IMAP flags of a message: system flags in
// canonical case, then keywords. The result must not be modified.
func flagNames(bits int, keywords []string) []string {
	if len(keywords) == 0 && bits >= 0 && bits < len(systemFlagNames) {
		return systemFlagNames[bits]
	}
	return flagNamesAlloc(bits, keywords)
}

func flagNamesAlloc(bits int, keywords []string) []string {
	out := make([]string, 0, 2+len(keywords))
	for _, sf := range systemFlags {
		if bits&sf.bit != 0 {
			out = append(out, sf.name)
		}
	}
	return append(out, keywords...)
}

// FlagOp says how StoreFlags combines flags with a message's.
type FlagOp = store.FlagOp

// Flag operations (STORE FLAGS, +FLAGS, -FLAGS).
const (
	FlagsReplace = store.FlagsReplace
	FlagsAdd     = store.FlagsAdd
	FlagsRemove  = store.FlagsRemove
)

// mailboxForWrite looks up a mailbox of account inside tx and takes its
// lock, so that the write and its announcement are one step for readers.
func (s *Service) mailboxForWrite(tx store.Tx, account, id int64) (store.Mailbox, error) {
	m, err := tx.MailboxByID(id)
	if errors.Is(err, store.ErrNotFound) || err == nil && m.AccountID != account {
		return store.Mailbox{}, fmt.Errorf("%w: %d", ErrNoSuchFolder, id)
	}
	if err != nil {
		return m, err
	}
	tx.Lock(m.ID, s.mailboxLock(m.ID))
	return m, nil
}

// Append stores a message in an account's folder with the given flags
// and internal date (zero: now), analysing it as delivery does, and
// returns the folder and the message's UID. ErrNoSuchFolder if the folder
// does not exist (INBOX is made again if it went). A message appended to
// a \Sent folder replaces the copy that submission filed itself of the
// same message, and keeps submission from filing one (sent.go). It is
// AppendMessages (append_batch.go) with one message.
func (s *Service) Append(ctx context.Context, account int64, name string, raw []byte, flags []string, date time.Time) (Folder, uint32, error) {
	f, uids, err := s.AppendMessages(ctx, account, name, []NewMessage{{Raw: raw, Flags: flags, Date: date}})
	if err != nil {
		return Folder{}, 0, err
	}
	return f, uids[0], nil
}

// StoreFlags changes the flags of an account's messages with UIDs in set
// in the folder with the given id, and announces every message whose flags
// changed, with origin.
func (s *Service) StoreFlags(ctx context.Context, account, folder int64, set UIDSet, op FlagOp, flags []string, origin any) error {
	_, err := s.storeFlags(ctx, account, folder, set, op, flags, nil, origin)
	return err
}

// StoreFlagsUnchangedSince is StoreFlags that leaves alone the messages
// whose MODSEQ is above unchangedSince, and returns their UIDs (RFC 7162
// 3.1.3, STORE ... (UNCHANGEDSINCE n)); the test and the change are one
// transaction.
func (s *Service) StoreFlagsUnchangedSince(ctx context.Context, account, folder int64, set UIDSet, op FlagOp, flags []string,
	unchangedSince uint64, origin any) (modified []uint32, err error) {
	return s.storeFlags(ctx, account, folder, set, op, flags, &unchangedSince, origin)
}

func (s *Service) storeFlags(ctx context.Context, account, folder int64, set UIDSet, op FlagOp, flags []string,
	unchangedSince *uint64, origin any) (modified []uint32, err error) {
	bits, keywords, err := parseFlags(flags)
	if err != nil {
		return nil, err
	}
	if len(set) == 0 {
		return nil, nil
	}
	if op != FlagsRemove {
		if err := s.checkFolderKeywords(ctx, folder, keywords); err != nil {
			return nil, err
		}
	}
	err = s.write(ctx, func(tx store.Tx) error {
		m, err := s.mailboxForWrite(tx, account, folder)
		if err != nil {
			return err
		}
		set := set
		if unchangedSince != nil {
			if modified, err = tx.ModifiedSince(m.ID, set, *unchangedSince); err != nil {
				return err
			}
			set = set.Without(modified)
			if len(set) == 0 {
				return nil
			}
		}
		changed, err := tx.SetFlags(m.ID, set, op, bits, keywords)
		if err != nil {
			return err
		}
		for _, c := range changed {
			// Adding keywords to those a message has: the bound is on
			// the result, and the error undoes the write.
			if len(c.Keywords) > maxKeywords {
				return fmt.Errorf("%w: at most %d keywords on a message", ErrLimit, maxKeywords)
			}
		}
		if len(changed) > 0 {
			tx.OnCommit(func() {
				for _, c := range changed {
					s.announce(Change{Kind: ChangeFlags, MailboxID: m.ID, UID: c.UID, ModSeq: c.ModSeq,
						Flags: flagNames(c.Flags, c.Keywords), Seq: c.Seq, Origin: origin})
				}
			})
		}
		return nil
	})
	return modified, err
}

// Without returns the set less the UIDs in drop (ascending).
func (s UIDSet) Without(drop []uint32) UIDSet {
	if len(drop) == 0 {
		return s
	}
	var out UIDSet
	j := 0
	for _, r := range s {
		start := r.Start
		for j < len(drop) && drop[j] < start {
			j++
		}
		for j < len(drop) && drop[j] <= r.Stop {
			if drop[j] > start {
				out = append(out, UIDRange{Start: start, Stop: drop[j] - 1})
			}
			if drop[j] == r.Stop {
				start = 0
				j++
				break
			}
			start = drop[j] + 1
			j++
		}
		if start != 0 && start <= r.Stop {
			out = append(out, UIDRange{Start: start, Stop: r.Stop})
		}
	}
	return out
}

// Expunge removes the messages with \Deleted from a folder, only those
// with UIDs in set unless set is nil.
func (s *Service) Expunge(ctx context.Context, account, folder int64, set UIDSet, origin any) error {
	if set != nil && len(set) == 0 {
		return nil
	}
	// A folder without \Deleted messages has nothing to expunge: a read
	// says so, without a write and an fsync to wait for. Sessions expunge
	// often and mostly find nothing.
	var deleted uint32
	err := s.ReadMailbox(ctx, folder, nil, func(r *Reader) error {
		if r.account != account {
			return fmt.Errorf("%w: %d", ErrNoSuchFolder, folder)
		}
		deleted = r.counts.Deleted
		return nil
	})
	if err != nil || deleted == 0 {
		return err
	}
	return s.expunge(ctx, account, folder, set, origin)
}

// ExpungeMarked is Expunge for a caller that has itself marked a message
// of the folder \Deleted since it last expunged there, as a mail app
// does before it expunges: Expunge's read would find it, so the write
// comes at once. If another session expunged it meanwhile, the write
// finds nothing and removes nothing.
func (s *Service) ExpungeMarked(ctx context.Context, account, folder int64, set UIDSet, origin any) error {
	if set != nil && len(set) == 0 {
		return nil
	}
	return s.expunge(ctx, account, folder, set, origin)
}

func (s *Service) expunge(ctx context.Context, account, folder int64, set UIDSet, origin any) error {
	return s.write(ctx, func(tx store.Tx) error {
		m, err := s.mailboxForWrite(tx, account, folder)
		if err != nil {
			return err
		}
		removed, err := tx.ExpungeDeleted(m.ID, set)
		if err != nil {
			return err
		}
		s.announceRemoved(tx, m.ID, removed, origin)
		return nil
	})
}

// announceRemoved announces removals from the highest sequence number
// down, so that each number is right when applied in order.
func (s *Service) announceRemoved(tx store.Tx, mailbox int64, removed []store.Removed, origin any) {
	if len(removed) == 0 {
		return
	}
	tx.OnCommit(func() {
		for i := len(removed) - 1; i >= 0; i-- {
			r := removed[i]
			s.announce(Change{Kind: ChangeExpunged, MailboxID: mailbox, UID: r.UID, ModSeq: r.ModSeq, Seq: r.Seq, Origin: origin})
		}
	})
}

// CopyResult pairs the UIDs of copied messages with their copies'.
type CopyResult struct {
	Dest    Folder
	SrcUIDs []uint32
	DstUIDs []uint32
}

// Copy copies an account's messages with UIDs in set from a folder to
// the account's folder named dest, sharing the stored messages; with move,
// the originals are removed (RFC 6851). ErrNoSuchFolder if dest does not
// exist.
func (s *Service) Copy(ctx context.Context, account, folder int64, set UIDSet, dest string, move bool, origin any) (CopyResult, error) {
	dest, err := NormalizeFolderName(dest)
	if err != nil {
		return CopyResult{}, err
	}
	if err := s.checkCopyKeywords(ctx, account, folder, set, dest); err != nil {
		return CopyResult{}, err
	}
	var res CopyResult
	err = s.write(ctx, func(tx store.Tx) error {
		src, err := s.mailboxForWrite(tx, account, folder)
		if err != nil {
			return err
		}
		dst, err := tx.MailboxByName(account, dest)
		if errors.Is(err, store.ErrNotFound) && dest == "INBOX" {
			dst, err = s.remakeInbox(tx, account, s.now())
		}
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNoSuchFolder, dest)
		}
		if err != nil {
			return err
		}
		tx.Lock(dst.ID, s.mailboxLock(dst.ID))
		before, err := tx.Quota(account)
		if err != nil {
			return err
		}
		if !move && before.Limit > 0 {
			// Refused before the copies are written: a full account's
			// COPY of a large folder must not hold the writer, which
			// every delivery waits for, with inserts that are undone.
			size, err := tx.SizeOfUIDs(src.ID, set)
			if err != nil {
				return err
			}
			if size > 0 && !before.Fits(size) {
				return &QuotaError{Account: account, Limit: before.Limit, Usage: before.Usage, Size: size}
			}
		}
		copied, err := tx.CopyMessages(src.ID, set, dst.ID)
		if err != nil {
			return err
		}
		// A COPY adds the copies' sizes to the account's usage; a MOVE,
		// within the account, adds nothing in the end. Checked again from
		// the usage the copies made, in case the sum above and the copies
		// differ: a COPY that did not fit is undone with this request's
		// savepoint, before anything else sees it.
		if !move {
			after, err := tx.Quota(account)
			if err != nil {
				return err
			}
			if added := after.Usage - before.Usage; added > 0 && !before.Fits(added) {
				return &QuotaError{Account: account, Limit: before.Limit, Usage: before.Usage, Size: added}
			}
		}
		res = CopyResult{Dest: folderOf(dst)}
		for _, c := range copied {
			res.SrcUIDs = append(res.SrcUIDs, c.SrcUID)
			res.DstUIDs = append(res.DstUIDs, c.DstUID)
		}
		if len(copied) > 0 {
			res.Dest.UIDNext = copied[len(copied)-1].DstUID + 1
		}
		var removed []store.Removed
		if len(copied) > 0 {
			if err := s.claimTaken(tx, dst.ID); err != nil {
				return err
			}
		}
		if move && len(copied) > 0 {
			if removed, err = tx.RemoveMessages(src.ID, res.SrcUIDs); err != nil {
				return err
			}
		}
		// In the order of the writes: additions, then removals (whose
		// sequence numbers were taken after the additions, which matters
		// when MOVE targets the source folder itself).
		tx.OnCommit(func() {
			for _, c := range copied {
				s.announce(Change{Kind: ChangeAdded, MailboxID: dst.ID, UID: c.DstUID, ModSeq: c.ModSeq, Flags: c.Keywords, Origin: origin})
			}
		})
		s.announceRemoved(tx, src.ID, removed, origin)
		return nil
	})
	if err != nil {
		return CopyResult{}, err
	}
	return res, nil
}
