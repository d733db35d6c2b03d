package store

// Mailbox is one folder of an account.
type Mailbox struct {
	ID            int64
	AccountID     int64
	Name          string
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	SpecialUse    string
	Subscribed    bool
	// RecentUID is the lowest UID no session has claimed as \Recent yet
	// (Tx.ClaimRecent): the messages from it on are recent for the next
	// session that selects the mailbox read-write (RFC 3501 2.3.2).
	RecentUID uint32
}

// MailboxCounts are a mailbox's totals, kept by triggers (see
// migrations/0002_imap.sql).
type MailboxCounts struct {
	Messages    uint32
	Unseen      uint32 // without \Seen
	Deleted     uint32 // with \Deleted
	Size        int64  // octets of all messages
	DeletedSize int64  // octets of the messages with \Deleted
}

// UIDRange is an inclusive range of UIDs, Start <= Stop.
type UIDRange struct{ Start, Stop uint32 }

// MessageColumns says which columns EachMessage reads: each one costs a
// read per row.
type MessageColumns int

const (
	ColumnsFlags MessageColumns = iota // UID, flags and keywords
	ColumnsRow                         // and MODSEQ, blob, internal date and size
)

// Changed is a message whose MODSEQ passed the one a client gave.
type Changed struct {
	UID      uint32
	ModSeq   uint64
	Flags    int // Flag* bits
	Keywords []string
}
