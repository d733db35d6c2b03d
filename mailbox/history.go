package mailbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	"pillarbox/store"
)

// The delivery history: each message's story (received, delivered,
// queued, each relay attempt, relayed or bounced, deleted by the
// operator), written inside the transactions that make it happen so
// that it costs no commit of its own, and read by `pillarbox trace`.

// HistoryEvent is one event of a message's story.
type HistoryEvent = store.HistoryEvent

// History keys, for Service.History.
const (
	HistoryByStored    = store.HistoryByBlob
	HistoryByQueue     = store.HistoryByQueue
	HistoryByMessageID = store.HistoryByMessageID
	HistoryByAddress   = store.HistoryByAddress
)

// historyPruneBatch bounds the old events one transaction removes, so
// that a backlog (a server that was down for a while, a shortened
// history_days) is worked off without making any transaction long.
const historyPruneBatch = 1000

// Origin is where a message came from, for the history. The zero value
// records nothing but the recipients.
type Origin struct {
	Session string // the id in the logs and the Received header
	Client  string // the client's IP address
	Helo    string // its EHLO/HELO name
	TLS     string // how the session used TLS, e.g. "TLS 1.3"; "" for none
	User    string // the authenticated user, on submission
	Auth    string // the Authentication-Results summary, on the MX
}

func (o *Origin) detail(to []string) string {
	var parts []string
	if o != nil {
		if o.Session != "" {
			parts = append(parts, "id "+o.Session)
		}
		if o.Client != "" {
			parts = append(parts, "client ["+o.Client+"] helo "+o.Helo)
		}
		tls := o.TLS
		if tls == "" {
			tls = "none"
		}
		if o.Client != "" {
			parts = append(parts, "TLS "+tls)
		}
		if o.User != "" {
			parts = append(parts, "user "+o.User)
		}
		if o.Auth != "" {
			parts = append(parts, "auth "+o.Auth)
		}
	}
	parts = append(parts, "to "+strings.Join(to, ","))
	return strings.Join(parts, "; ")
}

// History returns the stories matching a key (one of the HistoryBy
// constants): every event of each stored message concerned, latest
// first, at most limit events.
func (s *Service) History(ctx context.Context, by string, value any, limit int) ([]HistoryEvent, error) {
	return s.db.History(ctx, by, value, limit)
}

// record adds events inside tx. Pruning is PruneHistory's, off the
// delivery path: the writer is what ingest waits for.
func (s *Service) record(tx store.Tx, now time.Time, evs ...store.HistoryEvent) error {
	for _, e := range evs {
		e.At = now
		if err := tx.AddHistory(e); err != nil {
			return err
		}
	}
	return nil
}

// PruneHistory deletes the events older than Options.HistoryKeep, a
// bounded batch per transaction so that no write waits long behind it,
// and returns how many went. serve runs it periodically.
func (s *Service) PruneHistory(ctx context.Context) (int64, error) {
	var total int64
	cutoff := s.now().Add(-s.keep)
	for {
		var n int64
		err := s.write(ctx, func(tx store.Tx) error {
			var err error
			n, err = tx.PruneHistory(cutoff, historyPruneBatch)
			return err
		})
		total += n
		if err != nil || n < historyPruneBatch {
			return total, err
		}
	}
}

// localEvents are the "delivered" events of local recipients, each
// naming the accounts it reached.
func localEvents(tx store.Tx, blob int64, msgID string, rcpts []Recipient, junk bool) ([]store.HistoryEvent, error) {
	var evs []store.HistoryEvent
	for _, r := range rcpts {
		// Resolve read the names already: only a Recipient made without
		// it costs a lookup per account inside the write.
		names := r.Names
		if len(names) != len(r.Accounts) {
			names = nil
			for _, id := range r.Accounts {
				a, err := tx.AccountAddress(id)
				if err != nil {
					return nil, err
				}
				names = append(names, a)
			}
		}
		d := "locally to " + strings.Join(names, ",")
		if junk {
			d += " (Junk)"
		}
		evs = append(evs, store.HistoryEvent{Event: store.EventDelivered, BlobID: blob, MessageID: msgID,
			Address: r.Address.String(), Detail: d})
	}
	return evs, nil
}

func addrList(rcpts []Recipient, remote []Address) []string {
	var out []string
	for _, r := range rcpts {
		out = append(out, r.Address.String())
	}
	for _, a := range remote {
		out = append(out, a.String())
	}
	return out
}

// attemptDetail describes a relay attempt.
func attemptDetail(a QueueAttempt) string {
	host, tls := a.Remote, a.TLS
	if host == "" {
		host = "no host"
	}
	if tls == "" {
		tls = "none"
	}
	return fmt.Sprintf("host %s; TLS %s; reply %s", host, tls, a.Reply)
}

func senderOrNull(from string) string {
	if from == "" {
		return "<>"
	}
	return from
}
