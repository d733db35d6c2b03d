package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/sqlite"
)

// inboxCounter reads how many messages a user's INBOX holds.
type inboxCounter interface {
	InboxCount(ctx context.Context, address string) (int, error)
	Close() error
}

// verifyOptions says how to confirm delivery; with neither IMAPAddr nor
// DBDir set, nothing is confirmed.
type verifyOptions struct {
	IMAPAddr string // IMAP server on loopback: LOGIN as each user, STATUS INBOX
	IMAPPass string // every user's password
	DBDir    string // Pillarbox data directory: count through the store API
	Timeout  time.Duration
	Log      *slog.Logger // for the store's own messages
}

func (o verifyOptions) enabled() bool { return o.IMAPAddr != "" || o.DBDir != "" }

// open returns the counter the options select. domains are the local
// domains the addresses to count belong to.
func (o verifyOptions) open(domains []string) (inboxCounter, error) {
	if o.IMAPAddr != "" {
		return &imapCounter{addr: o.IMAPAddr, pass: o.IMAPPass, timeout: o.Timeout}, nil
	}
	return openDBCounter(o.DBDir, domains, o.Log)
}

// imapCounter counts with one short IMAP session per call: LOGIN, STATUS
// INBOX (MESSAGES), LOGOUT. Any IMAP server works, Dovecot included.
type imapCounter struct {
	addr, pass string
	timeout    time.Duration
}

func (c *imapCounter) InboxCount(ctx context.Context, address string) (int, error) {
	conn, err := loopbackDialer(c.timeout).DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return 0, fmt.Errorf("imap: %w", err)
	}
	conn.SetDeadline(time.Now().Add(c.timeout))
	cl := imapclient.New(conn, nil)
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	if err := cl.WaitGreeting(); err != nil {
		return 0, fmt.Errorf("imap %s: greeting: %w", c.addr, err)
	}
	if err := cl.Login(address, c.pass).Wait(); err != nil {
		return 0, fmt.Errorf("imap %s: login as %s: %w", c.addr, address, err)
	}
	st, err := cl.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return 0, fmt.Errorf("imap %s: status INBOX of %s: %w", c.addr, address, err)
	}
	if st.NumMessages == nil {
		return 0, fmt.Errorf("imap %s: status INBOX of %s: no MESSAGES in the reply", c.addr, address)
	}
	cl.Logout().Wait()
	return int(*st.NumMessages), nil
}

func (c *imapCounter) Close() error { return nil }

// dbCounter counts through Pillarbox's store, beside a running server.
// It only reads, though sqlite.Open may apply pending migrations, as any
// start of the server would.
type dbCounter struct {
	db  store.Store
	svc *mailbox.Service
}

func openDBCounter(dir string, domains []string, log *slog.Logger) (*dbCounter, error) {
	path := filepath.Join(dir, "pillarbox.db")
	// sqlite.Open would create a missing database; a typo in the
	// directory must be an error instead.
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("verify-db: %w", err)
	}
	db, err := sqlite.Open(path, sqlite.Options{Logger: log, Readers: 4, SearchText: mailbox.TextFunc(mailbox.Limits{})})
	if err != nil {
		return nil, fmt.Errorf("verify-db: %w", err)
	}
	svc, err := mailbox.New(db, mailbox.Options{Domains: domains, Logger: log})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("verify-db: %w", err)
	}
	return &dbCounter{db: db, svc: svc}, nil
}

func (c *dbCounter) InboxCount(ctx context.Context, address string) (int, error) {
	n, err := c.svc.Count(ctx, address, "INBOX")
	if err != nil {
		return 0, fmt.Errorf("verify-db: %s: %w", address, err)
	}
	return n, nil
}

func (c *dbCounter) Close() error { return c.db.Close() }

// countParallel is how many counts run at once: enough to hide IMAP
// round trips, few enough not to flood the server being measured.
const countParallel = 4

// inboxCounts reads the INBOX count of every address.
func inboxCounts(ctx context.Context, c inboxCounter, addrs []string) (map[string]int, error) {
	counts := make(map[string]int, len(addrs))
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, countParallel)
	for _, a := range addrs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n, err := c.InboxCount(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			counts[a] = n
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return counts, nil
}

// verifyResult is a confirmed delivery.
type verifyResult struct {
	Messages  int           // new messages found, equal to the 250s received
	Mailboxes int           // mailboxes that received at least one
	Waited    time.Duration // from the last 250 until the counts were right
}

func (r verifyResult) String() string {
	return fmt.Sprintf("verified: %d new messages in %d mailboxes (all there %s after the last 250)",
		r.Messages, r.Mailboxes, r.Waited.Round(time.Millisecond))
}

// verifyDelivery waits, up to timeout, until every address's INBOX holds
// exactly before[a] + accepted[a] messages: delivery may lag behind the
// 250 (a queueing MTA answers before it delivers). A count above that is
// an error at once: more messages arrived than were accepted. lastReply
// is when the load got its last reply; zero means now.
func verifyDelivery(ctx context.Context, c inboxCounter, before, accepted map[string]int, lastReply time.Time, timeout time.Duration) (verifyResult, error) {
	start := time.Now()
	if lastReply.IsZero() || lastReply.After(start) {
		lastReply = start
	}
	deadline := start.Add(timeout)
	want := make(map[string]int, len(before))
	var res verifyResult
	for a, n := range before {
		want[a] = n + accepted[a]
		res.Messages += accepted[a]
		if accepted[a] > 0 {
			res.Mailboxes++
		}
	}
	pending := make([]string, 0, len(want))
	for a := range want {
		pending = append(pending, a)
	}
	sort.Strings(pending)

	wait := 20 * time.Millisecond
	for {
		counts, err := inboxCounts(ctx, c, pending)
		if err != nil {
			return res, fmt.Errorf("verify: %w", err)
		}
		var short []string
		missing := 0
		for _, a := range pending {
			switch n := counts[a]; {
			case n > want[a]:
				return res, fmt.Errorf("verify: %s holds %d messages, want %d (%d before + %d accepted): more arrived than were accepted",
					a, n, want[a], before[a], accepted[a])
			case n < want[a]:
				short = append(short, a)
				missing += want[a] - n
			}
		}
		if len(short) == 0 {
			res.Waited = time.Since(lastReply)
			return res, nil
		}
		if time.Now().Add(wait).After(deadline) {
			var ex []string
			for _, a := range short[:min(len(short), 3)] {
				ex = append(ex, fmt.Sprintf("%s has %d, want %d", a, counts[a], want[a]))
			}
			return res, fmt.Errorf("verify: after %s, %d of %d mailboxes are %d messages short (%s)",
				timeout, len(short), len(want), missing, strings.Join(ex, "; "))
		}
		pending = short
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, fmt.Errorf("verify: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 250*time.Millisecond)
	}
}
