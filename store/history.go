package store

import (
	"time"
)

// Events of the delivery history (migrations/0010_history.sql).
const (
	EventReceived  = "received"  // came in by SMTP or submission
	EventDelivered = "delivered" // stored in local accounts
	EventQueued    = "queued"    // queued for a remote recipient
	EventDeferred  = "deferred"  // a relay attempt failed for now
	EventRelayed   = "relayed"   // a remote host accepted it
	EventBounced   = "bounced"   // failed for good
	EventDeleted   = "deleted"   // the operator deleted the queue item
)

// HistoryEvent is one event in a message's story.
type HistoryEvent struct {
	ID        int64
	At        time.Time
	Event     string
	BlobID    int64  // the stored message, 0 if none
	QueueID   int64  // the queue item, 0 if none
	MessageID string // the Message-ID, without <>
	Address   string // the recipient concerned; the sender for received
	Detail    string
}

// History keys: what a lookup matches.
const (
	HistoryByBlob      = "blob_id"
	HistoryByQueue     = "queue_id"
	HistoryByMessageID = "message_id"
	HistoryByAddress   = "address"
)
