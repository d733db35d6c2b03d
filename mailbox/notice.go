package mailbox

import (
	"context"
	"errors"
	"slices"
	"time"

	"pillarbox/store"
)

// QueueParams is what a message's MAIL and RCPT commands asked of its
// delivery beyond the addresses: the DSN extension's parameters (RFC
// 3461) and REQUIRETLS (RFC 8689), kept with each queue item.
type QueueParams = store.QueueParams

// noticePlan is where a notice goes, decided before its transaction: the
// INBOX of local accounts, or the queue for a remote sender.
type noticePlan struct {
	blob   *store.Blob
	local  []int64
	remote Address
	to     string // the recipient, for the history
	size   int64
	// requireTLS queues the notice with REQUIRETLS.
	requireTLS bool
}

// planNotice resolves a notice's recipient and prepares its blob. A nil
// plan with a reason says why the notice is dropped.
func (s *Service) planNotice(ctx context.Context, n *Notice) (*noticePlan, string, error) {
	to, err := ParseAddress(n.To)
	switch {
	case n.To == "":
		return nil, "the message had no sender", nil
	case err != nil:
		return nil, err.Error(), nil
	}
	p := &noticePlan{requireTLS: n.RequireTLS, to: to.String()}
	data := n.Data
	if s.IsLocalDomain(to.Domain) {
		r, err := s.Resolve(ctx, to)
		if errors.Is(err, ErrNoSuchUser) {
			return nil, "no local account has the sender address " + to.String(), nil
		}
		if err != nil {
			return nil, "", err
		}
		p.local = r.Accounts
		if slices.Contains(p.local, n.AccountID) {
			p.local = []int64{n.AccountID}
		}
		// RFC 5321 4.4: the final delivery records the (null) reverse
		// path of a notice.
		data = append([]byte("Return-Path: <>\r\n"), n.Data...)
	} else {
		p.remote = to
	}
	if p.blob, _, err = s.prepareBlob(data); err != nil {
		return nil, "", err
	}
	p.size = int64(len(data))
	return p, "", nil
}

// sendNoticeTx stores a planned notice in the INBOX of its local
// recipients, or queues it for its remote one, inside tx.
func (s *Service) sendNoticeTx(tx store.Tx, p *noticePlan, now time.Time) (NoticeSent, error) {
	var sent NoticeSent
	local := p.local
	if len(local) > 0 {
		// A notice that does not fit in the sender's quota is dropped
		// with a log line, never refused back: that would be a bounce of
		// a bounce (RFC 5321 6.1 wants no loops), and failing here would
		// undo the delivery or queue update it goes with.
		local = nil
		for _, acct := range p.local {
			if err := checkQuota(tx, acct, p.size); errors.Is(err, ErrOverQuota) {
				s.log.Warn("mailbox: notice dropped: over quota", "to", p.to, "account", acct, "err", err.Error())
				continue
			} else if err != nil {
				return sent, err
			}
			local = append(local, acct)
		}
		if len(local) == 0 {
			sent.Dropped = "the sender's mailbox is over its quota"
			return sent, nil
		}
	}
	id, err := tx.InsertBlob(p.blob)
	if err != nil {
		return sent, err
	}
	if len(local) > 0 {
		for _, acct := range local {
			if err := s.appendLocked(tx, acct, "INBOX", id, p.size, now); err != nil {
				return sent, err
			}
		}
		sent.Accounts = len(local)
		s.countDelivered(tx, sent.Accounts)
		return sent, s.record(tx, now, store.HistoryEvent{Event: store.EventDelivered, BlobID: id,
			MessageID: p.blob.MessageID, Address: p.to, Detail: "delivery status notification, locally"})
	}
	sent.QueueID, err = tx.Enqueue(store.NewQueueItem{
		BlobID:      id,
		Sender:      "", // RFC 3464 / RFC 5321 4.5.5: notices have a null sender
		Recipient:   p.remote.String(),
		Domain:      p.remote.Domain,
		Created:     now,
		NextAttempt: now,
		// RFC 3461 4.1: nobody is told of a notice's fate; RFC 8689 5: a
		// notice about a REQUIRETLS message travels under REQUIRETLS.
		Params: QueueParams{Notify: "NEVER", RequireTLS: p.requireTLS},
	})
	if err != nil {
		return sent, err
	}
	return sent, s.record(tx, now, store.HistoryEvent{Event: store.EventQueued, BlobID: id, QueueID: sent.QueueID,
		MessageID: p.blob.MessageID, Address: p.remote.String(), Detail: "delivery status notification"})
}

// SuccessReport is what a "delivered" notice tells a sender who asked
// for one with NOTIFY=SUCCESS (RFC 3461 4.1) about local delivery.
type SuccessReport struct {
	Sender     string // the envelope sender, never ""
	AccountID  int64  // the submitting account, or 0
	EnvID      string // ENVID, or ""
	Arrival    time.Time
	Original   []byte // the message as stored
	RequireTLS bool   // the message came with REQUIRETLS
	Recipients []SuccessRecipient
}

// SuccessRecipient is one delivered recipient of a SuccessReport.
type SuccessRecipient struct {
	Address string
	ORcpt   string // ORCPT as "type;address", or ""
	// Expanded says the address is an alias for several accounts, each of
	// which got the message (RFC 3461 5.2.7.3: "expanded").
	Expanded bool
}
