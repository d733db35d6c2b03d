package store

import "context"

// Feed is implemented by a store that several nodes share (PostgreSQL):
// it tells each node what every node, itself included, committed, so
// that a node's IMAP sessions hear of mail another node delivered and
// its relay of mail another node queued. A store that one process owns
// (SQLite) has no Feed: every commit is its own.
type Feed interface {
	// Follow calls f's functions, one at a time, until ctx ends, and
	// then returns ctx's error. When its connection to the database
	// breaks it makes a new one, and calls Resync once it listens again:
	// commits in between were not told.
	Follow(ctx context.Context, f FeedFuncs) error
}

// FeedFuncs receive what a Feed tells. A nil function is not called.
type FeedFuncs struct {
	// Mailbox is told, after a commit that changed a mailbox's messages
	// (appends, flags, expunges) or removed the mailbox, its id and its
	// HIGHESTMODSEQ as that commit left it, 0 when it is gone.
	Mailbox func(id int64, modseq uint64)
	// Queue is told after a commit that added to or changed the relay
	// queue.
	Queue func()
	// Resync is told each time the feed starts listening, the first
	// time too: what it missed must be read from the store.
	Resync func()
}
