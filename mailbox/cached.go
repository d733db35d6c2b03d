package mailbox

import (
	"context"

	"pillarbox/store"
)

// Reads without a snapshot.
//
// A protocol layer that keeps a folder's state in memory from the change
// feed (the IMAP trackers do) can answer some reads from it alone, when
// the feed is the whole truth: this node makes every commit, and
// announces each one under the folder's lock before anyone reads past
// it. The functions below serve such reads.

// OwnsStore reports whether every commit to the store is this node's,
// so that the changes announced to the listeners are all the changes:
// true for a store that one process owns (SQLite), false for one that
// several nodes share (PostgreSQL), whose commits reach a node through
// Follow and the locked reads.
func (s *Service) OwnsStore() bool {
	_, shared := s.db.(store.Feed)
	return !shared
}

// NoteFolderRead records in ctx's store.Owed (if it has one) that what
// the caller told of the folder's messages, from a state kept in memory,
// depends on the folder's last commit, as ReadMailbox does for what its
// snapshot holds. Call it after taking that state.
func (s *Service) NoteFolderRead(ctx context.Context, id int64) { s.noteRead(ctx, id) }

// CachedMeta returns the envelope and structure of a stored message that
// an earlier read decoded and kept, if they are still kept. They are
// shared: nobody may change them.
func (s *Service) CachedMeta(blobID int64) (*Envelope, *Part, bool) {
	m, ok := s.meta.get(blobID)
	return m.env, m.st, ok
}
