package imap

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// A keyword must be in the FLAGS a client was told before a FETCH shows
// it (RFC 9051 7.3.5; imaptest checks it). Another session's STORE can
// bring a new keyword into a snapshot this session reads before its box
// log's FLAGS reaches it, so every FETCH that shows flags checks first
// what its client was told.

// isKeyword reports whether f is a keyword rather than a system flag.
func isKeyword(f imap.Flag) bool { return !strings.HasPrefix(string(f), `\`) }

// tellKeywords records the keywords of a FLAGS response as told.
func (v *view) tellKeywords(flags []imap.Flag) {
	if v.told == nil {
		v.told = make(map[string]bool)
	}
	for _, f := range flags {
		if isKeyword(f) {
			v.told[strings.ToLower(string(f))] = true
		}
	}
}

// untold reports whether flags hold a keyword the client was not told.
func (v *view) untold(flags []imap.Flag) bool {
	for _, f := range flags {
		if isKeyword(f) && !v.told[strings.ToLower(string(f))] {
			return true
		}
	}
	return false
}

// announceKeywords writes FLAGS with the folder's keywords when flags,
// about to be shown, hold one the client was not told.
func (s *session) announceKeywords(flags []imap.Flag) {
	v := s.view
	if v == nil || !v.untold(flags) {
		return
	}
	b := v.box
	b.mu.Lock()
	list := b.mailboxFlagsLocked()
	b.mu.Unlock()
	for _, f := range flags {
		if isKeyword(f) && !slices.ContainsFunc(list, func(g imap.Flag) bool { return strings.EqualFold(string(g), string(f)) }) {
			list = append(list, f)
		}
	}
	s.writeFolderFlags(list)
}

// writeFolderFlags writes FLAGS and records its keywords as told.
func (s *session) writeFolderFlags(list []imap.Flag) {
	s.w.Untagged()
	s.w.Token("FLAGS ")
	s.w.Flags(list)
	s.w.CRLF()
	s.view.tellKeywords(list)
}

// writeFlagsFetch writes the flags of a message the client did not ask
// for (another session's change, a resynchronisation): "* seq FETCH (UID
// uid FLAGS (...))", with MODSEQ once CONDSTORE is on, after FLAGS if
// they hold a keyword the client was not told.
func (s *session) writeFlagsFetch(seq, uid uint32, flags []imap.Flag, modSeq uint64) {
	flags = s.withRecent(flags, uid)
	s.announceKeywords(flags)
	w := s.w
	w.Untagged()
	w.Number(seq)
	w.Token(" FETCH (UID ")
	w.Number(uid)
	w.Token(" FLAGS ")
	w.Flags(flags)
	if s.enabled.condstore {
		w.Token(" MODSEQ (")
		w.Number64(modSeq)
		w.Token(")")
	}
	w.Token(")")
	w.CRLF()
}
