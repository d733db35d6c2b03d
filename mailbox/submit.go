package mailbox

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"pillarbox/store"
)

// Submission is a message that an authenticated user sends: local
// recipients get it at once, remote ones are queued for the relay.
type Submission struct {
	Account Account     // who sends it
	From    Address     // the envelope sender; CanSendAs must allow it
	Local   []Recipient // resolved recipients in local domains
	Remote  []Address   // recipients in other domains
	Data    []byte      // the whole message, trace headers included
	// RemoteParams holds the DSN and REQUIRETLS parameters of remote
	// recipients, queued with each. Zero (or a recipient missing): none.
	RemoteParams map[Address]QueueParams
	// Notice, if set, is a notice to the sender sent in the same
	// transaction: the "delivered" report that NOTIFY=SUCCESS asks for
	// on local delivery (RFC 3461 4.1). Zero: none.
	Notice *Notice
	// SentData is the sender's own copy for its \Sent folder when it
	// differs from Data: the message with its Bcc fields, which
	// submission removes from what the recipients get (RFC 5322 3.6.3).
	// Nil: Data.
	SentData []byte
	// Origin describes the session for the delivery history. Nil: the
	// history records only the account.
	Origin *Origin
}

// Submitted reports a committed submission.
type Submitted struct {
	ID        int64   // the stored message's id, shown in logs
	MessageID string  // the Message-ID header, without <>
	Accounts  int     // how many local accounts received it
	Queued    []int64 // one queue item per remote recipient
	// SentFolder and SentUID say where the copy for the sender went;
	// "" and 0 if none was filed: Options.NoSentCopy, the account has no
	// \Sent folder, or (SentByClient) its mail app had uploaded the
	// message already.
	SentFolder   string
	SentUID      uint32
	SentByClient bool
	// SentOverQuota says no copy was filed because it did not fit in the
	// sender's quota; the message was sent all the same.
	SentOverQuota bool
}

// ErrNotOwner means an account tried to send as an address it does not
// own.
var ErrNotOwner = errors.New("mailbox: sender address not owned by the account")

// CanSendAs reports whether acct may use a as its envelope sender: a is
// in a local domain and resolves to acct, as its own address, one of its
// subaddresses, or an alias with acct among its targets.
func (s *Service) CanSendAs(ctx context.Context, acct Account, a Address) (bool, error) {
	r, err := s.Resolve(ctx, a)
	if errors.Is(err, ErrNotLocal) || errors.Is(err, ErrNoSuchUser) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(r.Accounts, acct.ID), nil
}

// Submit parses the message once and, in one transaction, stores it in
// the INBOX of every local recipient account, queues one item per remote
// recipient and files the sender's copy in its \Sent folder (sent.go;
// not with Options.NoSentCopy): either all of it commits or none. It
// returns once the transaction is durable; telling the relay about new
// items is the caller's job.
func (s *Service) Submit(ctx context.Context, sub *Submission) (Submitted, error) {
	accounts := accountsOf(sub.Local)
	if len(accounts) == 0 && len(sub.Remote) == 0 {
		return Submitted{}, errors.New("mailbox: submit: no recipients")
	}
	for _, a := range sub.Remote {
		if s.IsLocalDomain(a.Domain) {
			return Submitted{}, fmt.Errorf("mailbox: submit: %s is local, not remote", a)
		}
	}

	blob, meta, err := s.prepareBlob(sub.Data)
	if err != nil {
		return Submitted{}, err
	}
	var notice *noticePlan
	if sub.Notice != nil {
		if notice, _, err = s.planNotice(ctx, sub.Notice); err != nil {
			return Submitted{}, fmt.Errorf("mailbox: submit: %w", err)
		}
	}
	// The Sent copy shares the stored message unless it differs (Bcc).
	var sentBlob *store.Blob
	sentID := meta.Envelope.MessageID
	if !s.noSent && sub.SentData != nil {
		var sentMeta *Meta
		if sentBlob, sentMeta, err = s.prepareBlob(sub.SentData); err != nil {
			return Submitted{}, err
		}
		sentID = sentMeta.Envelope.MessageID
	}
	now := s.now()
	var res Submitted
	err = s.write(ctx, func(tx store.Tx) error {
		res.Queued = res.Queued[:0] // a retried fn starts over
		res.SentOverQuota = false
		if err := checkCredential(tx, sub.Account); err != nil {
			return err
		}
		// The local recipients' quotas were checked at RCPT: grace,
		// as for the MX (Delivery.Grace), so that one full mailbox does
		// not hold up the others and the remote recipients.
		id, _, err := s.storeLocal(tx, blob, accounts, now, false, quotaGrace)
		if err != nil {
			return err
		}
		res.ID = id
		origin := Origin{User: sub.Account.Address}
		if sub.Origin != nil {
			origin = *sub.Origin
			origin.User = sub.Account.Address
		}
		local, err := localEvents(tx, id, blob.MessageID, sub.Local, false)
		if err != nil {
			return err
		}
		evs := append([]store.HistoryEvent{{Event: store.EventReceived, BlobID: id, MessageID: blob.MessageID,
			Address: sub.From.String(), Detail: origin.detail(addrList(sub.Local, sub.Remote))}}, local...)
		for _, a := range sub.Remote {
			qid, err := tx.Enqueue(store.NewQueueItem{
				BlobID:      id,
				AccountID:   sub.Account.ID,
				Sender:      sub.From.String(),
				Recipient:   a.String(),
				Domain:      a.Domain,
				Created:     now,
				NextAttempt: now,
				Params:      sub.RemoteParams[a],
			})
			if err != nil {
				return err
			}
			res.Queued = append(res.Queued, qid)
			evs = append(evs, store.HistoryEvent{Event: store.EventQueued, BlobID: id, QueueID: qid,
				MessageID: blob.MessageID, Address: a.String(), Detail: "for relay"})
		}
		if err := s.record(tx, now, evs...); err != nil {
			return err
		}
		if notice != nil {
			// The sender is local (CanSendAs): the notice goes to its INBOX.
			if _, err := s.sendNoticeTx(tx, notice, now); err != nil {
				return err
			}
		}
		if s.noSent {
			return nil
		}
		sent, size := id, int64(len(blob.Data))
		if sentBlob != nil {
			size = int64(len(sentBlob.Data))
		}
		// The message goes out even if the sender's own copy has no room:
		// refusing to send for want of space to file it would be worse.
		// The copy is then not filed; Submitted.SentOverQuota says so.
		if err := checkQuota(tx, sub.Account.ID, size); errors.Is(err, ErrOverQuota) {
			res.SentOverQuota = true
			return nil
		} else if err != nil {
			return err
		}
		if sentBlob != nil {
			if sent, err = tx.InsertBlob(sentBlob); err != nil {
				return err
			}
		}
		filed, err := s.fileSentCopy(tx, sub.Account.ID, sent, size, sentID, now)
		res.SentFolder, res.SentUID, res.SentByClient = filed.folder, filed.uid, filed.byClient
		return err
	})
	if err != nil {
		return Submitted{}, fmt.Errorf("mailbox: submit: %w", err)
	}
	res.MessageID = meta.Envelope.MessageID
	res.Accounts = len(accounts)
	if res.SentOverQuota {
		s.log.Warn("mailbox: sent copy not filed: over quota", "account", sub.Account.Address, "stored", res.ID,
			"message_id", res.MessageID)
	}
	return res, nil
}
