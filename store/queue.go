package store

import (
	"time"
)

// Queue states. A held item is never picked for delivery until released.
const (
	QueueQueued = "queued"
	QueueHeld   = "held"
)

// NewQueueItem is one recipient of a message to queue.
type NewQueueItem struct {
	BlobID      int64
	AccountID   int64 // the submitting account; 0 for none (a bounce)
	Sender      string
	Recipient   string
	Domain      string
	Created     time.Time
	NextAttempt time.Time
	Params      QueueParams
}

// QueueParams is what a queue item's MAIL and RCPT commands asked of its
// delivery beyond the addresses: the DSN extension's parameters (RFC
// 3461) and REQUIRETLS (RFC 8689). The zero value asks for nothing.
type QueueParams struct {
	// Ret is RET (RFC 3461 4.3): "FULL", "HDRS", or "" when not given.
	Ret string
	// EnvID is ENVID (RFC 3461 4.4), decoded from xtext; "" when not
	// given.
	EnvID string
	// Notify is NOTIFY (RFC 3461 4.1): "NEVER" or a comma-separated set
	// of "SUCCESS", "FAILURE" and "DELAY"; "" when not given.
	Notify string
	// ORcpt is ORCPT (RFC 3461 4.2) as "type;address", decoded; "" when
	// not given.
	ORcpt string
	// RequireTLS is REQUIRETLS (RFC 8689): deliver only over TLS with a
	// verified certificate, to a next hop that offers REQUIRETLS.
	RequireTLS bool
}

// QueueItem is one queued (message, recipient) pair.
type QueueItem struct {
	ID        int64
	BlobID    int64
	AccountID int64 // 0 when none (bounces, deleted accounts)
	Sender    string
	Recipient string
	Domain    string
	State     string
	Attempts  int // tries made
	// ManualRetries are the tries an operator asked for while the item
	// waited for a later one; they are not steps of the backoff.
	ManualRetries int
	Created       time.Time
	NextAttempt   time.Time
	LastReply     string
	Warned        bool
	Params        QueueParams
	// From the blob: filled by the read-pool queries.
	MessageID string
	Size      int64
}

// BackoffStep is how far along the retry schedule the item is: its
// tries, less those an operator asked for.
func (it QueueItem) BackoffStep() int {
	return max(0, it.Attempts-it.ManualRetries)
}

// QueueAttempt is one recorded delivery attempt of a queue item.
type QueueAttempt struct {
	At     time.Time
	Remote string // the host that answered, "" if none did
	Reply  string
	// TLS says how the session used TLS ("TLS 1.3, certificate
	// verified (MTA-STS)", "none: STARTTLS failed ...; retried in
	// plaintext"); "" when no session was opened.
	TLS string
}

// QueueCounts is the queue's state, for monitoring.
type QueueCounts struct {
	Queued int64 // items waiting for delivery (QueueQueued)
	Held   int64 // items held by the operator (QueueHeld)
	// OldestQueued is when the oldest queued item was created; zero when
	// none is queued.
	OldestQueued time.Time
}
