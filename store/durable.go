package store

import (
	"context"
	"sync/atomic"
)

// A store may make a commit visible before it is durable (store/sqlite
// fsyncs the WAL after COMMIT, off the writer's path). Commits are
// numbered in order; Store.LastCommit tells which commit a read may
// depend on, and Store.AwaitCommit waits until that one is durable. A
// protocol that shows clients what it read, or answers writes made with
// Early, records what it depends on in an Owed and waits for it before
// anything reaches the client.

// Owed is the highest commit that what a session is about to say depends
// on. Its zero value owes nothing; it is safe for concurrent use.
type Owed struct{ n atomic.Uint64 }

// Note records that the session depends on commit n.
func (o *Owed) Note(n uint64) {
	for {
		cur := o.n.Load()
		if n <= cur || o.n.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Load returns the highest commit noted.
func (o *Owed) Load() uint64 { return o.n.Load() }

// AccountKey names an account's set of mailboxes and subscriptions for
// Store.LastCommit; a mailbox's messages are named by its id (int64), the
// key its writers give Tx.Lock.
type AccountKey int64

type earlyKey struct{}

// Early returns a context with which Write returns as soon as its
// transaction is committed, before the commit is durable, having noted
// the commit in o: the caller goes on with its next piece of work while
// the store makes the commit durable, and must hold back everything that
// tells the outside world of the write until AwaitCommit(o.Load())
// returns. Reads made with the context note in o what they depend on
// (see mailbox.Service). A store whose commits are durable once visible
// (PostgreSQL) answers such writes as any other.
func Early(ctx context.Context, o *Owed) context.Context {
	return context.WithValue(ctx, earlyKey{}, o)
}

// OwedOf returns the Owed that ctx came from Early with, nil if none.
func OwedOf(ctx context.Context) *Owed {
	o, _ := ctx.Value(earlyKey{}).(*Owed)
	return o
}
