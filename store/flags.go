package store

// FlagOp says how SetFlags combines the given flags with a message's.
type FlagOp int

// Flag operations (IMAP STORE FLAGS, +FLAGS, -FLAGS).
const (
	FlagsReplace FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// FlagChange is a message whose flags a write changed.
type FlagChange struct {
	UID      uint32
	Seq      uint32 // position in the mailbox (from 1) when it changed
	Flags    int
	Keywords []string
	ModSeq   uint64
}

// Removed is a message a write removed from its mailbox.
type Removed struct {
	UID    uint32
	Seq    uint32 // position in the mailbox (from 1) just before it went
	ModSeq uint64 // the mailbox's MODSEQ of the removal (RFC 7162 3.2)
}

// Copied pairs a copied message's UID with its copy's.
type Copied struct {
	SrcUID, DstUID uint32
	ModSeq         uint64   // the copy's MODSEQ in the destination
	Keywords       []string // the copy's keywords
}
