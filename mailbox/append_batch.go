package mailbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"pillarbox/store"
)

// NewMessage is one message for AppendMessages: its octets, its flags
// (system flags and keywords as IMAP names them) and its internal date
// (zero: now).
type NewMessage struct {
	Raw   []byte
	Flags []string
	Date  time.Time
}

// AppendMessages stores messages in an account's folder, in order, all or
// none: in one transaction, so that a MULTIAPPEND (RFC 3502) that fails
// on any message leaves the folder as it was. Each message is analysed as
// delivery does, and counts against the account's quota as Append's does:
// one larger than the whole quota is refused for good, and the batch is
// refused when the account's usage after it would be over the quota (net
// of the automatic Sent copies the uploads replace, see Append). It
// returns the folder and the messages' UIDs, in order, which ascend.
// ErrNoSuchFolder if the folder does not exist (INBOX is made again if it
// went).
func (s *Service) AppendMessages(ctx context.Context, account int64, name string, msgs []NewMessage) (Folder, []uint32, error) {
	name, err := NormalizeFolderName(name)
	if err != nil {
		return Folder{}, nil, err
	}
	if len(msgs) == 0 {
		return Folder{}, nil, errors.New("mailbox: append: no message")
	}
	// Parsed and analysed before the transaction, which every delivery
	// waits for.
	type prepared struct {
		bits     int
		keywords []string
		blob     *store.Blob
		date     time.Time
		size     int64
	}
	now := s.now()
	prep := make([]prepared, len(msgs))
	for i, m := range msgs {
		p := &prep[i]
		if p.bits, p.keywords, err = parseFlags(m.Flags); err != nil {
			return Folder{}, nil, err
		}
		if p.blob, _, err = s.prepareBlob(m.Raw); err != nil {
			return Folder{}, nil, err
		}
		p.date, p.size = m.Date, int64(len(m.Raw))
		if p.date.IsZero() {
			p.date = now
		}
	}
	var keywords []string
	for _, p := range prep {
		keywords = append(keywords, p.keywords...)
	}
	if len(keywords) > 0 {
		id, err := s.folderIDByName(ctx, account, name)
		if err != nil {
			return Folder{}, nil, err
		}
		if err := s.checkFolderKeywords(ctx, id, keywords); err != nil {
			return Folder{}, nil, err
		}
	}
	var f Folder
	uids := make([]uint32, len(msgs))
	// replaced[i] is how many automatic Sent copies message i replaced.
	replaced := make([]int, len(msgs))
	err = s.write(ctx, func(tx store.Tx) error {
		clear(replaced) // a retried fn starts over
		m, err := tx.MailboxByName(account, name)
		if errors.Is(err, store.ErrNotFound) && name == "INBOX" {
			m, err = s.remakeInbox(tx, account, s.now())
		}
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNoSuchFolder, name)
		}
		if err != nil {
			return err
		}
		tx.Lock(m.ID, s.mailboxLock(m.ID))
		before, err := tx.Quota(account)
		if err != nil {
			return err
		}
		var total int64
		for _, p := range prep {
			if before.Limit > 0 && p.size > before.Limit {
				return &QuotaError{Account: account, Limit: before.Limit, Usage: before.Usage, Size: p.size}
			}
			total += p.size
		}
		for i := range prep {
			p := &prep[i]
			id, err := tx.InsertBlob(p.blob)
			if err != nil {
				return err
			}
			s.keepStored(tx, id, p.blob)
			row, err := tx.AppendMessage(store.NewMessage{MailboxID: m.ID, BlobID: id, InternalDate: p.date,
				Size: p.size, Flags: p.bits, Keywords: p.keywords})
			if err != nil {
				return err
			}
			uid := row.UID
			uids[i] = uid
			tx.OnCommit(func() { s.announce(added(row)) })
			if m.SpecialUse == `\Sent` {
				if replaced[i], err = s.replaceSentCopies(tx, account, p.blob.MessageID, now); err != nil {
					return err
				}
				if err := s.recordSent(tx, m.ID, uid, account, p.blob.MessageID, store.SentUpload, now); err != nil {
					return err
				}
			}
		}
		if err := s.claimTaken(tx, m.ID); err != nil {
			return err
		}
		f = folderOf(m)
		f.UIDNext = uids[len(uids)-1] + 1
		// The quota is checked on the net change, inside the transaction:
		// a mail app's upload of its Sent copy replaces the copy
		// submission filed (sent.go), so it fits wherever that one did.
		// Messages that do not fit are undone with this request's
		// savepoint before anyone sees them.
		after, err := tx.Quota(account)
		if err != nil {
			return err
		}
		if after.Limit > 0 && after.Usage > after.Limit && after.Usage > before.Usage {
			return &QuotaError{Account: account, Limit: before.Limit, Usage: before.Usage, Size: total}
		}
		return nil
	})
	if err != nil {
		return Folder{}, nil, fmt.Errorf("mailbox: append: %w", err)
	}
	for i, n := range replaced {
		if n > 0 {
			s.log.Info("mailbox: sent copy replaced by the client's upload", "account", account, "folder", f.Name,
				"uid", uids[i], "message_id", prep[i].blob.MessageID, "expunged", n)
		}
	}
	return f, uids, nil
}
