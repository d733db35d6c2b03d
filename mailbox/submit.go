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
}

// Submitted reports a committed submission.
type Submitted struct {
	ID        int64   // the stored message's id, shown in logs
	MessageID string  // the Message-ID header, without <>
	Accounts  int     // how many local accounts received it
	Queued    []int64 // one queue item per remote recipient
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
// the INBOX of every local recipient account and queues one item per
// remote recipient: either all of it commits or none. It returns once
// the transaction is durable; telling the relay about new items is the
// caller's job.
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
	now := s.now()
	var res Submitted
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		res.Queued = res.Queued[:0] // a retried fn starts over
		if err := checkCredential(tx, sub.Account); err != nil {
			return err
		}
		id, err := s.storeLocal(tx, blob, accounts, now, false)
		if err != nil {
			return err
		}
		res.ID = id
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
		}
		if notice != nil {
			// The sender is local (CanSendAs): the notice goes to its INBOX.
			if _, err := s.sendNoticeTx(tx, notice, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Submitted{}, fmt.Errorf("mailbox: submit: %w", err)
	}
	res.MessageID = meta.Envelope.MessageID
	res.Accounts = len(accounts)
	return res, nil
}
