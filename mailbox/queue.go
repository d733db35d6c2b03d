package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"pillarbox/store"
)

// The outbound queue: one item per (message, remote recipient). The relay
// picks due items, claims them, and reports each attempt back with
// FinishQueueItems; the operator's commands (QueueRetry, QueueHold, ...)
// may run in another process and bump a generation counter that the
// relay reads to notice them.

// QueueItem is one recipient of a queued message.
type QueueItem = store.QueueItem

// QueueAttempt is one recorded attempt of a queue item.
type QueueAttempt = store.QueueAttempt

// Queue item states.
const (
	QueueQueued = store.QueueQueued
	QueueHeld   = store.QueueHeld
)

// ErrNoSuchItem means there is no queue item with that id.
var ErrNoSuchItem = errors.New("mailbox: no such queue item")

// QueueDetail is one item in full, for the operator.
type QueueDetail struct {
	Item     QueueItem
	Attempts []QueueAttempt
	Header   []byte // the message's header block
}

// QueueList lists every queue item in order of id.
func (s *Service) QueueList(ctx context.Context) ([]QueueItem, error) {
	return s.db.QueueItems(ctx)
}

// QueueShow returns an item with its attempts and its message's header.
func (s *Service) QueueShow(ctx context.Context, id int64) (QueueDetail, error) {
	it, err := s.db.QueueItem(ctx, id)
	if err != nil {
		return QueueDetail{}, queueErr(id, err)
	}
	att, err := s.db.QueueAttempts(ctx, id)
	if err != nil {
		return QueueDetail{}, err
	}
	data, err := s.db.BlobData(ctx, it.BlobID)
	if err != nil {
		return QueueDetail{}, err
	}
	return QueueDetail{Item: it, Attempts: att, Header: HeaderOf(data)}, nil
}

// QueueRetry makes the queued item id, or every queued item when id is 0,
// due now. It returns how many items it changed; held items are left
// alone (release them instead).
func (s *Service) QueueRetry(ctx context.Context, id int64) (int, error) {
	now := s.now()
	var n int
	err := s.write(ctx, func(tx store.Tx) error {
		if id != 0 {
			it, err := tx.QueueItem(id)
			if err != nil {
				return err
			}
			if it.State == QueueHeld {
				return fmt.Errorf("mailbox: queue item %d is held: release it to retry it", id)
			}
		}
		var err error
		if n, err = tx.RetryQueueItems(id, now); err != nil {
			return err
		}
		return tx.TouchQueue()
	})
	return n, queueErr(id, err)
}

// QueueHold keeps an item from being delivered until QueueRelease. An
// attempt already under way finishes.
func (s *Service) QueueHold(ctx context.Context, id int64) error {
	return s.setQueueState(ctx, id, QueueHeld)
}

// QueueRelease lets a held item be delivered again, at once. Releasing
// an item that is not held is an error: it would otherwise make a
// deferred item due at once, which is what QueueRetry is for.
func (s *Service) QueueRelease(ctx context.Context, id int64) error {
	now := s.now()
	err := s.write(ctx, func(tx store.Tx) error {
		it, err := tx.QueueItem(id)
		if err != nil {
			return err
		}
		if it.State != QueueHeld {
			return fmt.Errorf("mailbox: queue item %d is not held (it is %s)", id, it.State)
		}
		if err := tx.SetQueueState(id, QueueQueued, now); err != nil {
			return err
		}
		return tx.TouchQueue()
	})
	return queueErr(id, err)
}

func (s *Service) setQueueState(ctx context.Context, id int64, state string) error {
	now := s.now()
	err := s.write(ctx, func(tx store.Tx) error {
		if err := tx.SetQueueState(id, state, now); err != nil {
			return err
		}
		return tx.TouchQueue()
	})
	return queueErr(id, err)
}

// QueueDelete removes an item without telling its sender.
func (s *Service) QueueDelete(ctx context.Context, id int64) error {
	now := s.now()
	err := s.write(ctx, func(tx store.Tx) error {
		it, err := tx.QueueItem(id)
		if err != nil {
			return err
		}
		if err := tx.RemoveQueueItem(id); err != nil {
			return err
		}
		if err := s.record(tx, now, store.HistoryEvent{Event: store.EventDeleted, BlobID: it.BlobID, QueueID: id,
			MessageID: it.MessageID, Address: it.Recipient, Detail: "queue item deleted by the operator"}); err != nil {
			return err
		}
		return tx.TouchQueue()
	})
	return queueErr(id, err)
}

func queueErr(id int64, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %d", ErrNoSuchItem, id)
	}
	return err
}

// DueQueueItems returns up to limit queued items due at now, the
// earliest first.
func (s *Service) DueQueueItems(ctx context.Context, now time.Time, limit int) ([]QueueItem, error) {
	return s.db.DueQueueItems(ctx, now, limit)
}

// NextQueueDomain returns the first domain after the given one, in byte
// order, with queued items, and the earliest next attempt among them;
// ok is false when there is none.
func (s *Service) NextQueueDomain(ctx context.Context, after string) (string, time.Time, bool, error) {
	return s.db.NextQueueDomain(ctx, after)
}

// DueDomainQueueItems returns up to limit queued items for domain due at
// now, the earliest first.
func (s *Service) DueDomainQueueItems(ctx context.Context, domain string, now time.Time, limit int) ([]QueueItem, error) {
	return s.db.DueDomainQueueItems(ctx, domain, now, limit)
}

// NextQueueAttempt returns the earliest next attempt after the given
// time; ok is false when no queued item has one.
func (s *Service) NextQueueAttempt(ctx context.Context, after time.Time) (time.Time, bool, error) {
	return s.db.NextQueueAttempt(ctx, after)
}

// QueueGeneration changes whenever the operator changes the queue.
func (s *Service) QueueGeneration(ctx context.Context) (int64, error) {
	return s.db.QueueGeneration(ctx)
}

// QueueMessage returns the raw message of a queue item.
func (s *Service) QueueMessage(ctx context.Context, it QueueItem) ([]byte, error) {
	return s.db.BlobData(ctx, it.BlobID)
}

// QueueClaim starts an attempt of an item: if the attempt never reports
// back, the item is due again at Next.
type QueueClaim struct {
	ID   int64
	Next time.Time
}

// ClaimQueueItems records, in one transaction, that attempts of these
// items start, and returns the ids it claimed: an item that has gone
// (deleted by the operator) is left out.
func (s *Service) ClaimQueueItems(ctx context.Context, claims []QueueClaim) ([]int64, error) {
	ok, err := eachQueueItem(ctx, s, claims, func(tx store.Tx, c QueueClaim) (int64, error) {
		return c.ID, tx.ClaimQueueItem(c.ID, c.Next)
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox: claim: %w", err)
	}
	return ok, nil
}

// QueueLease is a claim in force to renew: the item has made Attempts
// tries and is due at From, as its claim (or the last renewal) left it;
// To is the new end of the lease.
type QueueLease struct {
	ID       int64
	Attempts int
	From, To time.Time
}

// RenewQueueLeases moves, in one transaction, the leases of attempts
// still running, so that no other node takes their items while they
// run however long they take, and returns the ids it renewed: a claim
// that is no longer in force (the item was finished, deleted, or
// claimed anew after its lease ran out) is left out.
func (s *Service) RenewQueueLeases(ctx context.Context, leases []QueueLease) ([]int64, error) {
	ok, err := eachQueueItem(ctx, s, leases, func(tx store.Tx, l QueueLease) (int64, error) {
		return l.ID, tx.RenewQueueLease(l.ID, l.Attempts, l.From, l.To)
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox: renew leases: %w", err)
	}
	return ok, nil
}

// eachQueueItem runs op on each of list in one write and returns the
// ids of those it did: an item op finds gone (ErrNotFound) is left out.
func eachQueueItem[T any](ctx context.Context, s *Service, list []T, op func(store.Tx, T) (int64, error)) ([]int64, error) {
	var ok []int64
	err := s.write(ctx, func(tx store.Tx) error {
		ok = ok[:0] // a batch run again starts over
		for _, x := range list {
			id, err := op(tx, x)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			ok = append(ok, id)
		}
		return nil
	})
	return ok, err
}

// QueueOutcome is what became of one attempt for one recipient.
type QueueOutcome int

// Outcomes of an attempt.
const (
	QueueDelivered QueueOutcome = iota + 1 // the remote accepted it: remove the item
	QueueDeferred                          // try again at Next
	QueueFailed                            // permanent failure: remove the item, the Notice bounces it
)

// QueueResult is the result of one attempt for one item.
type QueueResult struct {
	ID      int64
	Outcome QueueOutcome
	Attempt QueueAttempt
	// Next is the next attempt of a deferred item.
	Next time.Time
	// Warned marks a deferred item whose sender the Notice warns of the
	// delay, so that it is warned only once.
	Warned bool
	// Reported marks a delivered item the Notice reports on (a success
	// notice that NOTIFY=SUCCESS asked for).
	Reported bool
}

// Notice is a delivery status notification (a bounce or a delay warning)
// for the envelope sender of the items it reports on. It commits with
// their results or not at all.
type Notice struct {
	// To is the envelope sender of the reported message. It is never
	// empty: nobody is told about the fate of a bounce.
	To string
	// AccountID is the account that submitted the message, if any: a
	// local sender gets the notice in that account's INBOX.
	AccountID int64
	// Data is the whole notice message, without trace headers.
	Data []byte
	// RequireTLS queues a notice for a remote sender with REQUIRETLS, as
	// RFC 8689 section 5 asks of a notice about a REQUIRETLS message.
	RequireTLS bool
}

// NoticeSent tells where a notice went.
type NoticeSent struct {
	Accounts int   // local accounts whose INBOX received it
	QueueID  int64 // the queue item for a remote sender, or 0
	// Dropped explains why nothing was sent, or is "".
	Dropped string
}

// FinishQueueItems records the results of attempts, and delivers the
// notice about them if any, in one transaction: a delivered or failed
// item is removed, a deferred one gets its attempt and next time. Items
// that have gone in the meantime (deleted by the operator) are skipped,
// and a notice only about such items is not sent.
func (s *Service) FinishQueueItems(ctx context.Context, results []QueueResult, n *Notice) (NoticeSent, error) {
	var sent NoticeSent
	var plan *noticePlan
	if n != nil {
		var err error
		plan, sent.Dropped, err = s.planNotice(ctx, n)
		if err != nil {
			return sent, err
		}
	}
	now := s.now()
	err := s.write(ctx, func(tx store.Tx) error {
		reported := 0
		var evs []store.HistoryEvent
		for _, r := range results {
			it, err := tx.QueueItem(r.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			ev := store.HistoryEvent{BlobID: it.BlobID, QueueID: r.ID, MessageID: it.MessageID, Address: it.Recipient,
				Detail: attemptDetail(r.Attempt)}
			switch r.Outcome {
			case QueueDelivered:
				ev.Event = store.EventRelayed
				err = tx.RemoveQueueItem(r.ID)
			case QueueFailed:
				ev.Event = store.EventBounced
				err = tx.RemoveQueueItem(r.ID)
			case QueueDeferred:
				ev.Event = store.EventDeferred
				ev.Detail += "; next attempt " + r.Next.UTC().Format(time.RFC3339)
				err = tx.DeferQueueItem(r.ID, r.Attempt, r.Next, r.Warned)
			default:
				err = fmt.Errorf("mailbox: queue item %d: unknown outcome %d", r.ID, r.Outcome)
			}
			if err != nil {
				return err
			}
			evs = append(evs, ev)
			if r.Outcome == QueueFailed || r.Warned || r.Reported {
				reported++
			}
		}
		if err := s.record(tx, now, evs...); err != nil {
			return err
		}
		sent.Accounts, sent.QueueID = 0, 0
		if plan == nil || reported == 0 {
			return nil
		}
		got, err := s.sendNoticeTx(tx, plan, now)
		sent.Accounts, sent.QueueID = got.Accounts, got.QueueID
		if got.Dropped != "" {
			sent.Dropped = got.Dropped
		}
		return err
	})
	if err != nil {
		return NoticeSent{}, fmt.Errorf("mailbox: finish queue items: %w", err)
	}
	if plan != nil && sent.Accounts == 0 && sent.QueueID == 0 && sent.Dropped == "" {
		sent.Dropped = "every item it reports on has been deleted"
	}
	return sent, nil
}

// HeaderOf returns the header block of a raw message, up to and
// including the empty line that ends it, or all of raw if it has no body.
func HeaderOf(raw []byte) []byte {
	switch {
	case bytes.HasPrefix(raw, []byte("\r\n")):
		return raw[:2]
	case bytes.HasPrefix(raw, []byte("\n")):
		return raw[:1]
	}
	crlf := bytes.Index(raw, []byte("\r\n\r\n"))
	lf := bytes.Index(raw, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return raw[:crlf+4]
	case lf >= 0:
		return raw[:lf+2]
	}
	return raw
}
