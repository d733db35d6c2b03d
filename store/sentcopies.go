package store

import (
	"time"
)

// Kinds of SentCopy.
const (
	SentAuto   = "auto"   // filed by submission
	SentUpload = "upload" // uploaded by a mail app (IMAP APPEND)
)

// SentCopy is a recent copy of sent mail in a Sent folder (see
// migrations/0009_sent_copies.sql).
type SentCopy struct {
	MailboxID int64
	UID       uint32
	AccountID int64
	MessageID string    // the message's Message-ID, without <>; never ""
	Kind      string    // SentAuto or SentUpload
	Saved     time.Time // when it was stored
}
