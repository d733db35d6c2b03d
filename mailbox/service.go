package mailbox

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"pillarbox/store"
)

// Errors that protocol packages map to replies. Check with errors.Is.
var (
	ErrNoSuchUser  = errors.New("mailbox: no such user")
	ErrNotLocal    = errors.New("mailbox: domain is not local")
	ErrExists      = errors.New("mailbox: already exists")
	ErrAuthFailed  = errors.New("mailbox: authentication failed")
	ErrBadPassword = errors.New("mailbox: unacceptable password")
	// ErrStorageFull is temporary: the disk is full; retry later.
	ErrStorageFull = store.ErrFull
)

// Options configures a Service. The zero value of each field is documented.
type Options struct {
	// Domains are the local domains, normalised or not. Zero: none, so
	// nothing is local.
	Domains []string
	// Logger receives one line per delivered message. Zero: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Zero: time.Now.
	Now func() time.Time
	// Limits bound the analysis of each delivered message. Zero: defaults
	// of Limits.
	Limits Limits
	// BcryptCost is the bcrypt cost of new password hashes. Zero: 10.
	BcryptCost int
	// NoSentCopy stops Submit from filing a copy of each submitted
	// message in the sender's \Sent folder (config [submission]
	// save_sent = false). Zero: Submit files it (sent.go).
	NoSentCopy bool
	// HistoryKeep is how long the delivery history keeps an event
	// (config history_days); older events are pruned by the writes that
	// add new ones. Zero: 30 days.
	HistoryKeep time.Duration
	// OnDelivered, if set, is told of each committed local delivery with
	// how many accounts' mailboxes received the message: mail from the MX
	// and from submission, and notices (bounces, delay warnings, success
	// notices) delivered to a local sender; not Sent copies nor APPEND.
	// It runs on the store's writer goroutine: it must be quick. Zero:
	// nothing is told.
	OnDelivered func(accounts int)
	// VanishedKeep is how many expunged UIDs each folder remembers for
	// QRESYNC; PruneVanished forgets older ones (see resync.go). Zero:
	// DefaultVanishedKeep.
	VanishedKeep int
	// DefaultQuota is the storage quota in octets that AddUser (and a
	// domain's postmaster account) starts an account with (config
	// [limits] default_quota); accounts that exist keep theirs. Zero: no
	// quota.
	DefaultQuota int64
	// MaxFolders bounds the folders of one account: CreateFolder and
	// RenameFolder that would make more fail with ErrLimit. A folder
	// costs no quota, so without a bound one client could fill the disk
	// with empty folders. Zero: DefaultMaxFolders.
	MaxFolders int
	// MaxSubscriptions bounds the names one account subscribes to (they
	// need no folder): SetSubscribed past it fails with ErrLimit. Zero:
	// DefaultMaxSubscriptions.
	MaxSubscriptions int
}

// The defaults of Options.MaxFolders and Options.MaxSubscriptions: far
// more than any mail app's hierarchy.
const (
	DefaultMaxFolders       = 10000
	DefaultMaxSubscriptions = 10000
)

// Service is the mail host's domain logic over one store.
type Service struct {
	db      store.Store
	domains map[string]bool // the config's; the database's are in dc
	dc      domainCache
	log     *slog.Logger
	now     func() time.Time
	limits  Limits
	cost    int
	noSent  bool          // Options.NoSentCopy
	keep    time.Duration // Options.HistoryKeep
	// vanishedKeep is Options.VanishedKeep.
	vanishedKeep int
	// defaultQuota is Options.DefaultQuota.
	defaultQuota int64
	// onDelivered is Options.OnDelivered.
	onDelivered func(accounts int)
	// maxFolders and maxSubs are Options.MaxFolders and
	// Options.MaxSubscriptions.
	maxFolders, maxSubs int

	// states holds, by mailbox id, each mailbox's lock and what its
	// announced changes led to (*mailboxState, follow.go); behind are
	// the mailboxes with a change held back, which the write that held
	// it catches up before it returns.
	states   sync.Map
	behindMu sync.Mutex
	behind   map[int64]struct{}
	// accounts holds, by account id, the lock of the account's folders
	// and subscriptions (*sync.Mutex, lockAccount and WatchAccount).
	accounts sync.Map

	// dummyHash makes a login for a user that does not exist cost as much
	// as one with a wrong password, so timing does not tell which accounts
	// exist. Made on first use: bcrypt is slow on purpose.
	dummyHash func() []byte
	// auth spares a repeated correct login its bcrypt comparison.
	auth *authCache
	// meta keeps decoded envelopes and structures (Reader.Messages),
	// bodies whole messages (Reader.ReadBodies, MessageBytes).
	meta   *blobCache[meta]
	bodies *blobCache[[]byte]

	mu        sync.RWMutex
	listeners []Listener

	sessMu   sync.Mutex
	sessions map[int64]map[*tracked]struct{} // by account id; see TrackSession
}

// New returns a Service over db. Domains that do not normalise are
// returned as an error.
func New(db store.Store, opts Options) (*Service, error) {
	s := &Service{
		db:           db,
		domains:      make(map[string]bool),
		log:          opts.Logger,
		now:          opts.Now,
		limits:       opts.Limits,
		cost:         opts.BcryptCost,
		noSent:       opts.NoSentCopy,
		defaultQuota: max(opts.DefaultQuota, 0),
		keep:         opts.HistoryKeep,

		vanishedKeep: opts.VanishedKeep,

		onDelivered: opts.OnDelivered,
		maxFolders:  opts.MaxFolders,
		maxSubs:     opts.MaxSubscriptions,

		sessions: make(map[int64]map[*tracked]struct{}),
		behind:   make(map[int64]struct{}),
		auth:     newAuthCache(authCacheTTL, authCacheMax),
		meta:     newMetaCache(),
		bodies:   newBodyCache(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.keep <= 0 {
		s.keep = 30 * 24 * time.Hour
	}
	if s.vanishedKeep <= 0 {
		s.vanishedKeep = DefaultVanishedKeep
	}
	if s.maxFolders <= 0 {
		s.maxFolders = DefaultMaxFolders
	}
	if s.maxSubs <= 0 {
		s.maxSubs = DefaultMaxSubscriptions
	}
	if s.cost == 0 {
		s.cost = 10
	}
	s.dummyHash = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("pillarbox-no-such-user"), s.cost)
		return h
	})
	// The store keeps no copy of the search text: it derives it from the
	// stored message with these limits, as delivery did.
	db.SetSearchText(TextFunc(s.limits))
	for _, d := range opts.Domains {
		nd, err := NormalizeDomain(d)
		if err != nil {
			return nil, err
		}
		s.domains[nd] = true
	}
	return s, nil
}
