package mailbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"pillarbox/store"
)

// Delivery is one received message for local recipients.
type Delivery struct {
	From       string      // envelope sender, "" for the null sender
	Recipients []Recipient // resolved local recipients
	Data       []byte      // the whole message, trace headers included
	// Junk files the message in each account's \Junk folder (RFC 6154)
	// instead of INBOX, for mail the MX let in but does not trust (DMARC
	// p=quarantine). An account without one gets it in INBOX.
	Junk bool
	// Notice, if set, is a notice to the sender sent in the same
	// transaction: the "delivered" report that NOTIFY=SUCCESS asks for
	// (RFC 3461 4.1). Zero: none.
	Notice *Notice
	// Origin describes the session for the delivery history. Nil: the
	// history records no client.
	Origin *Origin
	// Partial stores the message for the accounts that have room in
	// their quota and reports the others in Delivered.OverQuota; Deliver
	// fails only if no account has room. Zero: one account without room
	// fails the whole delivery (with its *QuotaError), for a caller that
	// has one reply for every recipient and no other way to report one.
	Partial bool
	// Grace stores the message for every account, even one it takes
	// over its quota: the caller checked the quotas when it accepted the
	// recipients (SMTP RCPT, CheckQuota), and has one reply left for all
	// of them, so that a refusal now would defer or bounce the message
	// for recipients with room too. The overshoot is one message per
	// transaction, as Dovecot's quota_grace allows; the next RCPT to a
	// full account is refused. Grace overrides Partial.
	Grace bool
}

// Delivered reports a committed delivery.
type Delivered struct {
	ID        int64  // the stored message's id, shown in logs
	MessageID string // the Message-ID header, without <>
	Accounts  int    // how many accounts received it
	// NoticeQueued is the queue item of a notice for a remote sender, or
	// 0: the relay has mail to send.
	NoticeQueued int64
	// OverQuota lists, with Delivery.Partial, the recipients with an
	// account that did not receive the message because it would have gone
	// over its quota, each with its *QuotaError.
	OverQuota []QuotaRefusal
}

// QuotaRefusal is a recipient that did not receive a message for its
// quota.
type QuotaRefusal struct {
	Recipient Address
	Err       *QuotaError
}

// Deliver parses the message once and stores it for every recipient
// account's INBOX in one transaction: all receive it or none does. It
// returns after the transaction is durably committed. A message for
// several recipients of one account (alias and address, subaddresses) is
// stored once in that account.
func (s *Service) Deliver(ctx context.Context, d *Delivery) (Delivered, error) {
	accounts := accountsOf(d.Recipients)
	if len(accounts) == 0 {
		return Delivered{}, errors.New("mailbox: deliver: no recipients")
	}

	blob, meta, err := s.prepareBlob(d.Data)
	if err != nil {
		return Delivered{}, err
	}
	var notice *noticePlan
	if d.Notice != nil {
		if notice, _, err = s.planNotice(ctx, d.Notice); err != nil {
			return Delivered{}, fmt.Errorf("mailbox: deliver: %w", err)
		}
	}
	now := s.now()
	var res Delivered
	err = s.write(ctx, func(tx store.Tx) error {
		var err error
		res.NoticeQueued, res.OverQuota = 0, nil
		var refused map[int64]*QuotaError
		mode := quotaAll
		switch {
		case d.Grace:
			mode = quotaGrace
		case d.Partial:
			mode = quotaPartial
		}
		if res.ID, refused, err = s.storeLocal(tx, blob, accounts, now, d.Junk, mode); err != nil {
			return err
		}
		rcpts := d.Recipients
		if len(refused) > 0 {
			rcpts, res.OverQuota = splitRefused(d.Recipients, refused)
		}
		res.Accounts = len(accounts) - len(refused)
		evs, err := localEvents(tx, res.ID, blob.MessageID, rcpts, d.Junk)
		if err != nil {
			return err
		}
		received := store.HistoryEvent{Event: store.EventReceived, BlobID: res.ID, MessageID: blob.MessageID,
			Address: senderOrNull(d.From), Detail: d.Origin.detail(addrList(d.Recipients, nil))}
		if err := s.record(tx, now, append([]store.HistoryEvent{received}, evs...)...); err != nil || notice == nil {
			return err
		}
		sent, err := s.sendNoticeTx(tx, notice, now)
		res.NoticeQueued = sent.QueueID
		return err
	})
	if err != nil {
		return Delivered{}, fmt.Errorf("mailbox: deliver: %w", err)
	}
	res.MessageID = meta.Envelope.MessageID
	for _, r := range res.OverQuota {
		s.log.Warn("mailbox: over quota, not delivered", "stored", res.ID, "message_id", res.MessageID,
			"rcpt", r.Recipient.String(), "err", r.Err.Error())
	}
	return res, nil
}

// splitRefused returns the recipients with the accounts that received
// the message, and a refusal for each recipient with an account that
// did not.
func splitRefused(rcpts []Recipient, refused map[int64]*QuotaError) ([]Recipient, []QuotaRefusal) {
	var kept []Recipient
	var out []QuotaRefusal
	for _, r := range rcpts {
		var got []int64
		var first *QuotaError
		for _, a := range r.Accounts {
			if e := refused[a]; e != nil {
				if first == nil {
					first = e
				}
				continue
			}
			got = append(got, a)
		}
		if first != nil {
			out = append(out, QuotaRefusal{Recipient: r.Address, Err: first})
		}
		if len(got) > 0 {
			k := Recipient{Address: r.Address, Accounts: got}
			if len(r.Names) == len(r.Accounts) {
				for i, a := range r.Accounts {
					if refused[a] == nil {
						k.Names = append(k.Names, r.Names[i])
					}
				}
			}
			kept = append(kept, k)
		}
	}
	return kept, out
}

// accountsOf returns the accounts that recipients resolve to, each once
// and in order, so that an account reached several ways (alias and
// address, subaddresses) gets one copy.
func accountsOf(rcpts []Recipient) []int64 {
	var accounts []int64
	for _, r := range rcpts {
		accounts = append(accounts, r.Accounts...)
	}
	slices.Sort(accounts)
	return slices.Compact(accounts)
}

// How storeLocal treats an account without room in its quota.
type quotaMode int

const (
	quotaAll     quotaMode = iota // it fails the whole delivery
	quotaPartial                  // it is left out, and reported
	quotaGrace                    // it gets the message anyway (Delivery.Grace)
)

// storeLocal stores blob once and adds it to the INBOX of each account,
// inside tx; it returns the blob's id. An account without room in its
// quota fails it (quotaAll), gets it anyway (quotaGrace), or is left out
// (quotaPartial): then storeLocal returns those accounts' refusals, and
// fails only if every account refused (with the first temporary refusal
// if any, so that a sender tries again while waiting can help).
func (s *Service) storeLocal(tx store.Tx, blob *store.Blob, accounts []int64, now time.Time, junk bool, mode quotaMode) (int64, map[int64]*QuotaError, error) {
	id, err := tx.InsertBlob(blob)
	if err != nil {
		return 0, nil, err
	}
	s.keepStored(tx, id, blob)
	size := int64(len(blob.Data))
	var refused map[int64]*QuotaError
	var worst *QuotaError
	for _, acct := range accounts {
		if mode == quotaGrace {
			// Not checked here; see Delivery.Grace.
		} else if err := checkQuota(tx, acct, size); err != nil {
			var qe *QuotaError
			if mode != quotaPartial || !errors.As(err, &qe) {
				return 0, nil, err
			}
			if refused == nil {
				refused = make(map[int64]*QuotaError)
			}
			refused[acct] = qe
			if worst == nil || worst.Permanent() && !qe.Permanent() {
				worst = qe
			}
			continue
		}
		folder := "INBOX"
		if junk {
			if folder, err = junkFolder(tx, acct); err != nil {
				return 0, nil, err
			}
		}
		if err := s.appendLocked(tx, acct, folder, id, size, now); err != nil {
			return 0, nil, err
		}
	}
	if worst != nil && len(refused) == len(accounts) {
		return 0, nil, worst
	}
	s.countDelivered(tx, len(accounts)-len(refused))
	return id, refused, nil
}

// countDelivered tells Options.OnDelivered of a delivery to n accounts
// once tx has committed; a request that fails or is rolled back tells
// nothing.
func (s *Service) countDelivered(tx store.Tx, n int) {
	if f := s.onDelivered; f != nil && n > 0 {
		tx.OnCommit(func() { f(n) })
	}
}

// junkFolder names the account's folder with the \Junk special use
// (wherever the user moved it), or INBOX if it has none.
func junkFolder(tx store.Tx, account int64) (string, error) {
	mb, ok, err := specialFolder(tx, account, `\Junk`)
	if err != nil || !ok {
		return "INBOX", err
	}
	return mb.Name, nil
}

// prepareBlob analyses raw once and builds the row that stores it.
func (s *Service) prepareBlob(raw []byte) (*store.Blob, *Meta, error) {
	meta := Analyze(raw, s.limits)
	env, err := json.Marshal(&meta.Envelope)
	if err != nil {
		return nil, nil, fmt.Errorf("mailbox: envelope: %w", err)
	}
	st, err := json.Marshal(meta.Structure)
	if err != nil {
		return nil, nil, fmt.Errorf("mailbox: structure: %w", err)
	}
	blob := &store.Blob{
		Data:       raw,
		MessageID:  meta.Envelope.MessageID,
		SentDate:   meta.Envelope.Date,
		Envelope:   env,
		Structure:  st,
		HeaderText: meta.HeaderText,
		BodyText:   meta.BodyText,
		PartText:   meta.PartText,
		From:       storeAddresses(meta.Envelope.From),
		To:         storeAddresses(meta.Envelope.To),
		Cc:         storeAddresses(meta.Envelope.Cc),
		Bcc:        storeAddresses(meta.Envelope.Bcc),
	}
	blob.Prepare() // here, not on the store's writer goroutine
	return blob, meta, nil
}

// storeAddresses converts an ENVELOPE address list for the store, which
// keeps it for SEARCH FROM, TO, CC and BCC. The route is left out: those
// keys match names and addresses only.
func storeAddresses(list []EnvAddress) []store.EnvelopeAddress {
	if len(list) == 0 {
		return nil
	}
	out := make([]store.EnvelopeAddress, len(list))
	for i, a := range list {
		out[i] = store.EnvelopeAddress{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}

// appendLocked adds blob to an account's mailbox inside tx, taking the
// mailbox's lock until the change is committed and announced.
func (s *Service) appendLocked(tx store.Tx, account int64, name string, blob, size int64, date time.Time) error {
	mb, err := tx.MailboxByName(account, name)
	if errors.Is(err, store.ErrNotFound) && name == "INBOX" {
		mb, err = s.remakeInbox(tx, account, date)
	}
	if err != nil {
		return err
	}
	tx.Lock(mb.ID, s.mailboxLock(mb.ID))
	row, err := tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: blob, InternalDate: date, Size: size})
	if err != nil {
		return err
	}
	if err := s.claimTaken(tx, mb.ID); err != nil {
		return err
	}
	tx.OnCommit(func() { s.announce(added(row)) })
	return nil
}
