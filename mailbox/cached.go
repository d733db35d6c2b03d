package mailbox

import "pillarbox/store"

// Reads without a snapshot.
//
// A protocol layer that keeps a folder's state in memory from the change
// feed (the IMAP trackers do) can answer some reads from it alone, when
// the feed is the whole truth: this node makes every commit, and
// announces each one under the folder's lock before anyone reads past
// it. The functions below serve such reads; what they tell depends on the
// folder's last commit (FolderCommit), as a locked read does.

// OwnsStore reports whether every commit to the store is this node's,
// so that the changes announced to the listeners are all the changes:
// true for a store that one process owns (SQLite), false for one that
// several nodes share (PostgreSQL), whose commits reach a node through
// Follow and the locked reads.
func (s *Service) OwnsStore() bool {
	_, shared := s.db.(store.Feed)
	return !shared
}

// CachedMeta returns the envelope and structure of a stored message that
// an earlier read decoded and kept, if they are still kept. They are
// shared: nobody may change them.
func (s *Service) CachedMeta(blobID int64) (*Envelope, *Part, bool) {
	m, ok := lookupMeta(s.meta, blobID)
	return m.env, m.st, ok
}
