package mailbox

import (
	"time"

	"pillarbox/store"
)

// The Sent copy (issue 9).
//
// Submit files a copy of each submitted message in the sender's folder
// with the \Sent special use (RFC 6154), flagged \Seen, in the same
// transaction as the local deliveries and the queue items: the 250 means
// that the message is queued and filed, or neither happened. Most mail
// apps upload their own copy as well (IMAP APPEND to the same folder),
// which would leave two. So an APPEND to a \Sent folder whose message
// carries the Message-ID of a copy that submission filed for the same
// account within SentCopyWindow keeps the client's copy, whose UID the
// client has just been told (APPENDUID, RFC 4315), and expunges the
// automatic one, in one transaction; other sessions see the EXPUNGE as for
// any other removal. The other order counts too: a submission of a
// message that the account uploaded to a \Sent folder within the window
// (an app that files before it sends, or a message submitted again after
// a lost 250) files no copy. A copy the user has since moved or deleted
// is no longer one to match (its record went with it), and an APPEND to
// another folder, with another Message-ID, by another account or later
// than the window keeps both.

// SentCopyWindow is how long after a submission an APPEND of the same
// message to a \Sent folder replaces the automatic copy. Mail apps upload
// their copy right after the 250; a quarter of an hour covers a slow
// upload of a large message and a client that queues it while offline for
// a moment, and is short enough that a user who uploads an old message
// again on purpose keeps both.
const SentCopyWindow = 15 * time.Minute

// specialFolder returns the account's folder with the special use
// (wherever the user moved it; the first by name if there are several),
// or ok false if it has none.
func specialFolder(tx store.Tx, account int64, use string) (m store.Mailbox, ok bool, err error) {
	boxes, err := tx.MailboxesOf(account)
	if err != nil {
		return store.Mailbox{}, false, err
	}
	for _, mb := range boxes {
		if mb.SpecialUse == use {
			return mb, true, nil
		}
	}
	return store.Mailbox{}, false, nil
}

// sentFiling says what became of the sender's copy of a submission.
type sentFiling struct {
	folder   string // "" if none was filed
	uid      uint32
	byClient bool // the account had uploaded the message already
}

// fileSentCopy adds the stored message blob (size octets, Message-ID
// msgID) to the account's \Sent folder with \Seen inside tx, records it
// as an automatic copy, and forgets the records past the window. It
// files nothing if the account has uploaded the message to a \Sent
// folder within the window, or has no \Sent folder (the user deleted
// it: Pillarbox does not make it again behind the user's back).
func (s *Service) fileSentCopy(tx store.Tx, account, blob, size int64, msgID string, now time.Time) (sentFiling, error) {
	mb, ok, err := specialFolder(tx, account, `\Sent`)
	if err != nil || !ok {
		return sentFiling{}, err
	}
	// The uploads are read under the folder's lock, as an upload reads
	// the automatic copies under it (replaceSentCopies, after its
	// append): with nodes that commit at once, one of the two then sees
	// the other's record.
	tx.Lock(mb.ID, s.mailboxLock(mb.ID))
	if err := tx.LockMailbox(mb.ID); err != nil {
		return sentFiling{}, err
	}
	uploads, err := tx.SentCopies(account, msgID, store.SentUpload, now.Add(-SentCopyWindow))
	if err != nil || len(uploads) > 0 {
		return sentFiling{byClient: len(uploads) > 0}, err
	}
	row, err := tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: blob, InternalDate: now,
		Size: size, Flags: store.FlagSeen})
	if err != nil {
		return sentFiling{}, err
	}
	uid := row.UID
	if err := s.claimTaken(tx, mb.ID); err != nil {
		return sentFiling{}, err
	}
	tx.OnCommit(func() { s.announce(added(row)) })
	if err := s.recordSent(tx, mb.ID, uid, account, msgID, store.SentAuto, now); err != nil {
		return sentFiling{}, err
	}
	return sentFiling{folder: mb.Name, uid: uid}, nil
}

// recordSent records the message at mailbox/uid as a Sent copy of the
// given kind and forgets the records past the window. A message without
// a Message-ID is not recorded: nothing could be matched by it
// (submission always adds one, so only an unreadable one gets here).
func (s *Service) recordSent(tx store.Tx, mailbox int64, uid uint32, account int64, msgID, kind string, now time.Time) error {
	if msgID == "" {
		return nil
	}
	err := tx.AddSentCopy(store.SentCopy{MailboxID: mailbox, UID: uid, AccountID: account, MessageID: msgID, Kind: kind, Saved: now})
	if err != nil {
		return err
	}
	_, err = tx.PruneSentCopies(now.Add(-SentCopyWindow))
	return err
}

// replaceSentCopies expunges, inside tx, the automatic Sent copies of
// account with Message-ID msgID saved within the window before now,
// because the client has just uploaded its own copy to a \Sent folder.
// It returns how many it removed.
func (s *Service) replaceSentCopies(tx store.Tx, account int64, msgID string, now time.Time) (int, error) {
	copies, err := tx.SentCopies(account, msgID, store.SentAuto, now.Add(-SentCopyWindow))
	if err != nil || len(copies) == 0 {
		return 0, err
	}
	// copies are ordered by mailbox, then UID, as RemoveMessages wants.
	n := 0
	for i := 0; i < len(copies); {
		mbID := copies[i].MailboxID
		var uids []uint32
		for ; i < len(copies) && copies[i].MailboxID == mbID; i++ {
			uids = append(uids, copies[i].UID)
		}
		m, err := s.mailboxForWrite(tx, account, mbID)
		if err != nil {
			return 0, err
		}
		removed, err := tx.RemoveMessages(m.ID, uids)
		if err != nil {
			return 0, err
		}
		// No origin: the appending session has to hear of it as well if
		// it has the folder selected.
		s.announceRemoved(tx, m.ID, removed, nil)
		n += len(removed)
	}
	return n, nil
}
