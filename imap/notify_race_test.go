package imap

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/sqlite"
)

// TestNotifySetMissesNoSubscription: a subscription that another session
// commits while NOTIFY SET reads the account's subscriptions reaches the
// session, as the LIST event RFC 5465 5.5 asks for, and the SUBSCRIBED
// filter then names the folder. Before, the change could commit between
// that read and the registration: its event went nowhere, and the
// filter never learned the name.
func TestNotifySetMissesNoSubscription(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	spy := &subscriptionsSpy{Store: db, locking: make(chan struct{}, 1)}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	svc, err := mailbox.New(spy, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.AddUser(context.Background(), "alice@example.org", testPassword); err != nil {
		t.Fatal(err)
	}
	alice := mustAccount(t, svc, "alice")
	srv := New(svc, Options{Logger: log, Throttle: mailbox.NewThrottle(mailbox.ThrottleOptions{Base: time.Millisecond, Max: time.Millisecond})})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-served
		db.Close()
	})

	a := dialRaw(t, ln.Addr().String(), "alice")
	a.ok("CREATE News")
	a.ok("UNSUBSCRIBE News")

	// Right after NOTIFY SET has read the subscriptions, News is
	// subscribed: the write runs to its end, or until it waits for the
	// account's lock, before the read's result is used.
	subscribed := make(chan error, 1)
	spy.arm(func() {
		go func() { subscribed <- svc.SetSubscribed(context.Background(), alice, "News", true) }()
		select {
		case err := <-subscribed:
			subscribed <- err
		case <-spy.locking:
		}
	})
	u := a.ok("NOTIFY SET (SUBSCRIBED (MessageNew)) (PERSONAL (SubscriptionChange))")
	if err := <-subscribed; err != nil {
		t.Fatal(err)
	}
	// Told after NOTIFY SET's own command or after the next one,
	// whichever ran after the subscription committed.
	contains(t, append(u, a.ok("NOOP")...), `* LIST (\Subscribed) "/" "News"`)

	// The SUBSCRIBED filter names News now: its new messages are told.
	b := dialRaw(t, ln.Addr().String(), "alice")
	b.appendMsg("News", "", testMessage(1))
	contains(t, a.ok("NOOP"), `* STATUS "News" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY `)
}

// subscriptionsSpy is a store that runs a function once, armed, right
// after its next read of subscriptions, and signals locking when a write
// is about to take an account's lock.
type subscriptionsSpy struct {
	store.Store
	locking chan struct{}

	mu    sync.Mutex
	after func()
}

// arm sets the function, and forgets the locks taken before.
func (s *subscriptionsSpy) arm(f func()) {
	s.mu.Lock()
	s.after = f
	s.mu.Unlock()
	select {
	case <-s.locking:
	default:
	}
}

func (s *subscriptionsSpy) Subscriptions(ctx context.Context, account int64) ([]string, error) {
	names, err := s.Store.Subscriptions(ctx, account)
	s.mu.Lock()
	f := s.after
	s.after = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return names, err
}

func (s *subscriptionsSpy) Write(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Write(ctx, func(tx store.Tx) error { return fn(lockSpy{Tx: tx, locking: s.locking}) })
}

// lockSpy is a transaction that signals before it takes an account's
// lock.
type lockSpy struct {
	store.Tx
	locking chan struct{}
}

func (l lockSpy) Lock(key any, m sync.Locker) {
	if _, ok := key.(store.AccountKey); ok {
		select {
		case l.locking <- struct{}{}:
		default:
		}
	}
	l.Tx.Lock(key, m)
}
