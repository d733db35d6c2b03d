package store

import (
	"context"
	"sync"
	"time"
)

// Store is what Pillarbox keeps: accounts, domains, mailboxes, messages,
// the outbound queue and the relay's caches. Package mailbox talks to it
// and to nothing below it; store/sqlite is the embedded implementation.
//
// Reads outside Write see committed data, which may not be durable yet
// (see durable.go). Every change goes through Write, whose function
// runs in a transaction that the store commits durably before Write
// returns nil; concurrent writes may share one commit (group commit),
// each keeping its own all-or-nothing outcome.
type Store interface {
	// Write runs fn in a write transaction and returns once it is
	// committed and durable (nil), or rolled back (fn's error, or the
	// commit's); with a context from Early, once it is committed. fn must
	// not block on anything but the store, and must not keep tx after it
	// returns.
	Write(ctx context.Context, fn func(tx Tx) error) error
	// Committed returns the number of the last commit begun: a read
	// finished before the call depends on no later one (see durable.go).
	Committed() uint64
	// LastCommit returns the number of the last commit that changed what
	// key names (a mailbox id given to Tx.Lock, or an AccountKey), 0 if
	// that commit is durable. A read of it finished before the call
	// depends on no later one.
	LastCommit(key any) uint64
	// AwaitCommit returns once commit n and all before it are durable. It
	// fails if that can no longer happen.
	AwaitCommit(ctx context.Context, n uint64) error
	// Snapshot opens a consistent read view for one command; the caller
	// closes it.
	Snapshot(ctx context.Context) (Snapshot, error)

	// Accounts and aliases.
	AccountByAddress(ctx context.Context, address string) (Account, error)
	Accounts(ctx context.Context) ([]Account, error)
	AccountsGeneration(ctx context.Context) (int64, error)
	AliasTargets(ctx context.Context, address string) ([]Account, error)
	Aliases(ctx context.Context) ([]Alias, error)
	Credentials(ctx context.Context, ids []int64) (map[int64]int64, error)

	// Domains and their DKIM keys.
	Domains(ctx context.Context) ([]Domain, error)
	DomainsGeneration(ctx context.Context) (int64, error)
	DKIMKeys(ctx context.Context) ([]DKIMKey, error)

	// Mailboxes, subscriptions and quota.
	MailboxByID(ctx context.Context, id int64) (Mailbox, error)
	MailboxByName(ctx context.Context, accountID int64, name string) (Mailbox, error)
	Mailboxes(ctx context.Context, accountID int64) ([]Mailbox, error)
	MailboxCounts(ctx context.Context, id int64) (MailboxCounts, error)
	Subscriptions(ctx context.Context, accountID int64) ([]string, error)
	Quota(ctx context.Context, account int64) (Quota, error)
	VanishedOverflow(ctx context.Context, keep int) ([]int64, error)

	// Messages and their blobs, outside a snapshot.
	Messages(ctx context.Context, mailboxID int64, first, last uint32, limit int) ([]Message, error)
	CountMessages(ctx context.Context, mailboxID int64) (int, error)
	CountBlobs(ctx context.Context) (int, error)
	BlobData(ctx context.Context, blobID int64) ([]byte, error)
	BlobMeta(ctx context.Context, blobID int64) (envelope, structure []byte, err error)
	BlobRange(ctx context.Context, blobID, start, n int64) ([]byte, error)

	// The outbound queue.
	QueueItem(ctx context.Context, id int64) (QueueItem, error)
	QueueItems(ctx context.Context) ([]QueueItem, error)
	QueueAttempts(ctx context.Context, id int64) ([]QueueAttempt, error)
	QueueCounts(ctx context.Context) (QueueCounts, error)
	QueueGeneration(ctx context.Context) (int64, error)
	DueQueueItems(ctx context.Context, now time.Time, limit int) ([]QueueItem, error)
	DueDomainQueueItems(ctx context.Context, domain string, now time.Time, limit int) ([]QueueItem, error)
	NextQueueAttempt(ctx context.Context, after time.Time) (next time.Time, ok bool, err error)
	NextQueueDomain(ctx context.Context, after string) (domain string, first time.Time, ok bool, err error)

	// The relay's MTA-STS policy cache.
	MTASTSPolicy(ctx context.Context, domain string) (MTASTSPolicy, error)
	PutMTASTSPolicy(ctx context.Context, p MTASTSPolicy) error
	DeleteMTASTSPolicy(ctx context.Context, domain string) error
	StaleMTASTSPolicies(ctx context.Context, fetchedBefore, expiresBefore time.Time) ([]MTASTSPolicy, error)

	// Delivery history.
	History(ctx context.Context, by string, value any, limit int) ([]HistoryEvent, error)

	// Search text and its index. SetSearchText must be called before the
	// first write; FlushIndex, IndexBacklog, BackfillHeaders and
	// ReindexText concern work a store may do after a message is
	// committed.
	SetSearchText(f SearchTextFunc)
	FlushIndex(ctx context.Context) error
	IndexBacklog(ctx context.Context) (int64, error)
	BackfillHeaders(ctx context.Context) (int, error)
	ReindexText(ctx context.Context) (int, error)

	// Health and life cycle.
	CheckWritable(ctx context.Context) error
	SchemaVersion(ctx context.Context) (int, error)
	Stats() Stats
	Close() error
}

// Tx is the transaction of one Store.Write call. Its methods run on the
// store's writer; they see the transaction's own changes.
type Tx interface {
	// OnCommit registers f to run once the transaction is durably
	// committed, in registration order, before the locks taken with Lock
	// are released. If the transaction fails, f never runs.
	OnCommit(f func())
	// Lock acquires l (once per key and commit) and holds it until the
	// commit's OnCommit functions have run, so that a change and its
	// in-memory announcement are one step for anyone taking the same
	// lock.
	Lock(key any, l sync.Locker)

	// Accounts and aliases.
	CreateAccount(address, passwordHash string, now time.Time) (int64, error)
	SetPassword(address, passwordHash string) error
	DeleteAccount(address string) error
	AccountByAddress(address string) (Account, error)
	AccountAddress(id int64) (string, error)
	CheckCredential(id, credential int64) error
	SetAlias(alias string, targets []string) error
	DeleteAlias(alias string) error

	// Domains and DKIM keys.
	CreateDomain(name string, now time.Time) (int64, error)
	DomainByName(name string) (Domain, error)
	DomainUsers(name string) (accounts, aliases int, err error)
	DeleteDomainUsers(name string) error
	DeleteDomain(name string) error
	AddDKIMKey(domainID int64, selector, algorithm, state string, privateKey []byte, now time.Time) (int64, error)
	SetDKIMKeyState(id int64, state string, now time.Time) error
	DeleteDKIMKey(id int64) error
	DomainDKIMKeys(domainID int64) ([]DKIMKey, error)

	// Mailboxes and subscriptions.
	CreateMailbox(accountID int64, name, specialUse string, subscribed bool, now time.Time) (Mailbox, error)
	MailboxByID(id int64) (Mailbox, error)
	MailboxByName(accountID int64, name string) (Mailbox, error)
	MailboxesOf(accountID int64) ([]Mailbox, error)
	// LockMailbox holds the mailbox back from other nodes' writers
	// until the transaction ends, so that what it reads next is what
	// they committed before; ErrNotFound if there is no such mailbox.
	// (SQLite's one writer holds the whole database.)
	LockMailbox(id int64) error
	// ClaimRecent claims a mailbox's \Recent messages (RFC 3501 2.3.2)
	// for a session that selects it read-write: the UIDs from its
	// RecentUID, or from atLeast if that is higher, below its UIDNext,
	// which becomes its RecentUID. It returns the first UID claimed and
	// the UIDNext (nothing was claimed if first >= next); ErrNotFound if
	// there is no such mailbox.
	ClaimRecent(mailboxID int64, atLeast uint32) (first, next uint32, err error)
	RenameMailbox(id int64, name string) error
	DeleteMailbox(id int64) error
	Subscribe(accountID int64, name string) error
	Unsubscribe(accountID int64, name string) (bool, error)
	PruneVanished(mailboxID int64, keep, limit int) (int64, error)

	// Messages.
	InsertBlob(b *Blob) (int64, error)
	// AppendMessage adds a message with the mailbox's next UID and a new
	// MODSEQ, and returns its row as a read of ColumnsRow finds it.
	AppendMessage(m NewMessage) (Message, error)
	SetFlags(mailboxID int64, ranges []UIDRange, op FlagOp, flags int, keywords []string) ([]FlagChange, error)
	ModifiedSince(mailboxID int64, ranges []UIDRange, modseq uint64) ([]uint32, error)
	ExpungeDeleted(mailboxID int64, ranges []UIDRange) ([]Removed, error)
	RemoveMessages(mailboxID int64, uids []uint32) ([]Removed, error)
	CopyMessages(src int64, ranges []UIDRange, dst int64) ([]Copied, error)

	// Quota.
	Quota(account int64) (Quota, error)
	SetQuota(address string, limit int64) error
	SizeOfUIDs(mailbox int64, ranges []UIDRange) (int64, error)

	// The outbound queue.
	Enqueue(it NewQueueItem) (int64, error)
	QueueItem(id int64) (QueueItem, error)
	ClaimQueueItem(id int64, next time.Time) error
	// RenewQueueLease moves the lease of a claim that is still in force
	// (the item has made attempts tries and is due at from, as the claim
	// left it) to to; ErrNotFound if the claim is no longer so.
	RenewQueueLease(id int64, attempts int, from, to time.Time) error
	DeferQueueItem(id int64, a QueueAttempt, next time.Time, warned bool) error
	RemoveQueueItem(id int64) error
	SetQueueState(id int64, state string, now time.Time) error
	RetryQueueItems(id int64, now time.Time) (int, error)
	TouchQueue() error

	// Sent copies, history and serial numbers.
	AddSentCopy(c SentCopy) error
	SentCopies(accountID int64, messageID, kind string, since time.Time) ([]SentCopy, error)
	PruneSentCopies(cutoff time.Time) (int64, error)
	AddHistory(e HistoryEvent) error
	PruneHistory(cutoff time.Time, limit int) (int64, error)
	NextSerial(name string) (int64, error)
}

// Snapshot is a consistent read view of the store, held for one command.
// It is not safe for concurrent use.
type Snapshot interface {
	Mailbox(ctx context.Context, id int64) (Mailbox, MailboxCounts, error)
	Keywords(ctx context.Context, mailboxID int64) ([]string, error)
	UIDs(ctx context.Context, mailboxID int64) ([]uint32, error)
	UIDAt(ctx context.Context, mailboxID int64, seq, total uint32) (uint32, error)
	CountBelow(ctx context.Context, mailboxID int64, uid, total uint32) (uint32, error)
	CountUIDs(ctx context.Context, mailboxID int64, lo, hi uint32) (uint32, error)
	MaxUID(ctx context.Context, mailboxID int64) (uint32, error)
	FirstUnseen(ctx context.Context, mailboxID int64) (uint32, error)
	UIDsOfBlob(ctx context.Context, mailboxID, blobID int64) ([]uint32, error)
	EachMessage(ctx context.Context, mailboxID int64, lo, hi uint32, limit int, cols MessageColumns, fn func(*Message) error) error
	BlobMetas(ctx context.Context, ids []int64, fn func(id int64, envelope, structure []byte) error) error
	BlobRange(ctx context.Context, blobID, start, n int64) ([]byte, error)
	Search(ctx context.Context, mailboxID int64, c *SearchCriteria, withSeq bool, fn func(uid, seq uint32) error) error
	ChangedSince(ctx context.Context, mailboxID int64, modseq uint64, lo, hi uint32, fn func(Changed) error) error
	VanishedSince(ctx context.Context, mailboxID int64, modseq uint64) (uids []UIDRange, floorExceeded bool, err error)
	Close() error
}
