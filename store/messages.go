package store

import (
	"strings"
	"time"
)

// System flags, stored as bits of messages.flags.
const (
	FlagSeen = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

// Blob is a received message as stored once, with what delivery computed
// from it.
type Blob struct {
	Data      []byte
	MessageID string
	SentDate  time.Time // zero if the message has no usable Date:
	Envelope  []byte    // JSON
	Structure []byte    // JSON
	// HeaderText, BodyText and PartText are the search text: what the
	// search text function (Store.SetSearchText) gives for Data
	// (MessageText's Header, Body and Parts), which delivery has at hand.
	// Only their distinct words are kept, in the full-text index.
	HeaderText string
	BodyText   string
	PartText   string
	// From, To, Cc and Bcc are the parsed address lists of those fields,
	// which SEARCH FROM, TO, CC and BCC match (see AddressText).
	From, To, Cc, Bcc []EnvelopeAddress

	prepared               bool
	headerTerms, bodyTerms string    // MessageText.Terms of the search text
	addresses              [4]string // AddressText of From, To, Cc, Bcc
}

// Prepare computes what InsertBlob stores beside the message (its index
// terms and address texts) from the fields above. InsertBlob calls it if
// the caller has not: calling it before Store.Write keeps that work off the
// writer goroutine, which every delivery waits for. The fields must not
// change afterwards.
func (b *Blob) Prepare() {
	if b.prepared {
		return
	}
	b.headerTerms, b.bodyTerms = b.Text().Terms()
	for i, list := range [4][]EnvelopeAddress{b.From, b.To, b.Cc, b.Bcc} {
		b.addresses[i] = AddressText(list)
	}
	b.prepared = true
}

// Text returns the blob's search text.
func (b *Blob) Text() MessageText {
	return MessageText{Header: b.HeaderText, Body: b.BodyText, Parts: b.PartText}
}

// Terms returns the index terms of the blob's search text
// (MessageText.Terms), preparing the blob first if it is not.
func (b *Blob) Terms() (header, body string) {
	b.Prepare()
	return b.headerTerms, b.bodyTerms
}

// AddressTexts returns AddressText of From, To, Cc and Bcc, preparing the
// blob first if it is not.
func (b *Blob) AddressTexts() [4]string {
	b.Prepare()
	return b.addresses
}

// NewMessage describes a message to add to a mailbox.
type NewMessage struct {
	MailboxID    int64
	BlobID       int64
	InternalDate time.Time
	Size         int64
	Flags        int
	Keywords     []string
}

// Stored is m's row as a read of ColumnsRow finds it once m is stored
// with the given row id, UID, MODSEQ and save time (Unix seconds): times
// to the second, in the local zone, and no keywords as nil.
func (m NewMessage) Stored(id int64, uid uint32, modseq uint64, saved int64) Message {
	row := Message{ID: id, MailboxID: m.MailboxID, UID: uid, ModSeq: modseq, BlobID: m.BlobID,
		InternalDate: time.Unix(m.InternalDate.Unix(), 0), Size: m.Size, Flags: m.Flags, SaveDate: time.Unix(saved, 0)}
	if kw := strings.Fields(strings.Join(m.Keywords, " ")); len(kw) > 0 {
		row.Keywords = kw
	}
	return row
}

// Message is a stored message's row, without its body.
type Message struct {
	ID           int64
	MailboxID    int64
	UID          uint32
	ModSeq       uint64
	BlobID       int64
	InternalDate time.Time
	Size         int64
	Flags        int
	Keywords     []string
	// SaveDate is when the message was saved in its mailbox (RFC 8514),
	// its internal date if it was stored before the store kept that. Read
	// only with ColumnsRow.
	SaveDate time.Time
}
