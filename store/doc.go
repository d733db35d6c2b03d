// Package store is the seam between Pillarbox's mail logic and where its
// data is kept: the Store, Tx and Snapshot interfaces that package mailbox
// talks to, and the types, flags, limits and errors they exchange.
//
// Implementations live below it: store/sqlite, the embedded default (one
// file, one process, group commit through one writer goroutine). Each
// implementation keeps the same promises:
//
//   - Store.Write returns nil only once the transaction is committed and
//     durable; concurrent writes may share one commit, each keeping its
//     own all-or-nothing outcome.
//   - UIDs and MODSEQs grow strictly per mailbox, UIDVALIDITY is unique
//     across the store, and no id is ever used twice.
//   - A Snapshot sees one committed state for as long as it is open.
//
// The helpers here that both sides must agree on, such as Fold (case
// folding for substring search), IndexTerms (the words a message is
// indexed under) and AddressText (the folded text SEARCH FROM matches),
// are shared so that every implementation answers a search alike.
package store
