package mailbox

import (
	"context"

	"pillarbox/store"
)

// A protocol session that makes its writes with store.Early contexts
// (the IMAP server does) gets them back once committed, and holds back
// what it sends until the commits it depends on are durable (see
// store/durable.go). The reads below note in the context's store.Owed
// which commits they may have seen: a folder's messages are named by its
// id, the key its writers lock; an account's set of folders and
// subscriptions by store.AccountKey. Without such a context nothing is
// noted.

// noteRead records that what the caller read of keys depends on their
// last commits. Called after the read.
func (s *Service) noteRead(ctx context.Context, keys ...any) {
	o := store.OwedOf(ctx)
	if o == nil {
		return
	}
	for _, k := range keys {
		o.Note(s.db.LastCommit(k))
	}
}

// noteAll records that what the caller read may depend on any commit
// begun so far: for reads whose sources are not named by a key.
func (s *Service) noteAll(ctx context.Context) {
	if o := store.OwedOf(ctx); o != nil {
		o.Note(s.db.Committed())
	}
}

// Committed returns the number of the last commit begun: whatever was
// read before the call depends on no later commit.
func (s *Service) Committed() uint64 { return s.db.Committed() }

// FolderCommit returns the number of the last commit that changed the
// folder's messages if it may not be durable yet, else 0: what a session
// is told of the folder before the call depends on no later commit.
func (s *Service) FolderCommit(id int64) uint64 { return s.db.LastCommit(id) }

// AwaitCommit returns once commit n and all before it are durable.
func (s *Service) AwaitCommit(ctx context.Context, n uint64) error {
	return s.db.AwaitCommit(ctx, n)
}
