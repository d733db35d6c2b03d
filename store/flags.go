package store

import "strings"

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

// AddRemoveKeywords applies +FLAGS (FlagsAdd) or -FLAGS (FlagsRemove) of
// system flags and keywords to a message's flags and keywords, keywords
// compared without regard to case, and reports whether anything changed.
// A store that cannot do this in SQL calls it once per message.
func AddRemoveKeywords(old int, oldKeywords []string, op FlagOp, flags int, keywords []string) (int, []string, bool) {
	kw, nf := oldKeywords, old
	if op == FlagsAdd {
		nf |= flags
		for _, k := range keywords {
			if !containsFold(kw, k) {
				kw = append(kw, k)
			}
		}
	} else {
		nf &^= flags
		kw = nil
		for _, k := range oldKeywords {
			if !containsFold(keywords, k) {
				kw = append(kw, k)
			}
		}
	}
	return nf, kw, nf != old || len(kw) != len(oldKeywords)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
