package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// The words the timed searches look for: every generated Subject says
// "Benchmark message N of run R", and "invoice" is in the body
// vocabulary, so it is in most bodies of a few KiB.
const (
	imapSubjectWord = "Benchmark"
	imapBodyWord    = "invoice"
)

// imapTimingRuns is how often each timed command is repeated.
const imapTimingRuns = 5

// fillConns is the number of connections that APPEND for --fill.
const fillConns = 8

// cmdIMAP is the imap mode: fill a mailbox to N messages, time the
// commands a client's first look at a large mailbox issues, run a mixed
// workload of short sessions over C connections, and optionally hold K
// connections in IDLE.
func cmdIMAP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("imap", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:2143", "IMAP server `host:port` (loopback only)")
	user := fs.String("user", "", "login name")
	pass := fs.String("pass", "", "password")
	mbox := fs.String("mailbox", "bench", "mailbox to fill, time and load")
	fill := fs.Int("fill", 0, "APPEND messages until the mailbox holds at least `N`")
	size := fs.Int("size", 10240, "size of each appended message in `bytes`, headers included")
	clients := fs.Int("clients", 32, "concurrent sessions of the mixed workload (0: skip it)")
	duration := fs.Duration("duration", 10*time.Second, "length of the mixed workload")
	idle := fs.Int("idle", 0, "connections to hold in IDLE on the mailbox at the end")
	idleHold := fs.Duration("idle-hold", 30*time.Second, "how long to hold the --idle connections (Ctrl-C ends it early)")
	timeout := fs.Duration("timeout", time.Minute, "limit for each connect and command")
	asJSON := fs.Bool("json", false, "print the result as one JSON line on stdout (the summary goes to stderr)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case *user == "" || *pass == "":
		return errors.New("imap: --user and --pass are required")
	case *mbox == "":
		return errors.New("imap: --mailbox must not be empty")
	case *fill < 0:
		return errors.New("imap: --fill must not be negative")
	case *size < 0:
		return errors.New("imap: --size must not be negative")
	case *clients < 0:
		return errors.New("imap: --clients must not be negative")
	case *clients > 0 && *duration <= 0:
		return errors.New("imap: --duration must be positive")
	case *idle < 0:
		return errors.New("imap: --idle must not be negative")
	}
	if err := checkLoopback("addr", *addr); err != nil {
		return err
	}

	b := &imapBench{
		Addr:    *addr,
		User:    *user,
		Pass:    *pass,
		Mailbox: *mbox,
		Timeout: *timeout,
		Gen:     newMessageGen(*user, *size),
	}
	human := stdout
	if *asJSON {
		human = stderr
	}
	res := imapJSON{Mode: "imap", Mailbox: *mbox, Size: *size}

	fr, err := b.fill(ctx, *fill)
	if err != nil {
		return err
	}
	res.Messages = fr.Have + fr.Appended
	res.Filled = fr.Appended
	if fr.Appended > 0 {
		res.FillPerS = round1(float64(fr.Appended) / fr.Wall.Seconds())
		fmt.Fprintf(human, "fill: appended %d messages in %.3f s, %.1f msg/s over %d connections (%d before)\n",
			fr.Appended, fr.Wall.Seconds(), res.FillPerS, fr.Conns, fr.Have)
	}

	timings, err := b.timeCommands(ctx)
	if err != nil {
		return err
	}
	res.Timings = timings

	var mixed mixedResult
	if *clients > 0 {
		mixed = b.mixed(ctx, *clients, *duration)
		res.Clients = *clients
		res.DurationS = round3(mixed.Wall.Seconds())
		res.Sessions = mixed.Sessions
		res.Commands = mixed.Commands
		res.CommandsPerS = round1(mixed.rate())
		res.Errors = mixed.Errors
	}

	idleUp := 0
	if *idle > 0 && ctx.Err() == nil {
		idleUp = b.holdIdle(ctx, *idle, *idleHold, human)
		res.Idle = *idle
		res.IdleEstablished = idleUp
	}

	fmt.Fprintf(human, "imap %s mailbox %q: %d messages of %d bytes\n", b.Addr, b.Mailbox, res.Messages, *size)
	fmt.Fprintf(human, "  timings over %d runs:\n", imapTimingRuns)
	for _, t := range timings {
		fmt.Fprintf(human, "    %-28s min %9.3f ms  median %9.3f ms  (%d results)\n", t.Name, t.MinMS, t.MedianMS, t.Results)
	}
	if *clients > 0 {
		fmt.Fprintf(human, "  mixed: %d clients for %.3f s: %d sessions, %d commands, %.1f commands/s, %d errors\n",
			*clients, mixed.Wall.Seconds(), mixed.Sessions, mixed.Commands, mixed.rate(), mixed.Errors)
		if mixed.FirstErr != nil {
			fmt.Fprintf(human, "  first error: %v\n", mixed.FirstErr)
		}
	}
	if *idle > 0 {
		fmt.Fprintf(human, "  idle: %d of %d connections established\n", idleUp, *idle)
	}
	if *asJSON {
		line, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", line)
	}

	var errs []error
	if mixed.Errors > 0 {
		errs = append(errs, fmt.Errorf("imap: %d of %d mixed sessions failed", mixed.Errors, mixed.Sessions))
	}
	if *idle > 0 && idleUp < *idle {
		errs = append(errs, fmt.Errorf("imap: only %d of %d IDLE connections established", idleUp, *idle))
	}
	if ctx.Err() != nil && *idle == 0 {
		errs = append(errs, errors.New("imap: interrupted"))
	}
	return errors.Join(errs...)
}

// imapJSON is the --json line of the imap mode.
type imapJSON struct {
	Mode            string        `json:"mode"`
	Mailbox         string        `json:"mailbox"`
	Size            int           `json:"size"`
	Messages        int           `json:"messages"`
	Filled          int           `json:"filled"`
	FillPerS        float64       `json:"fill_per_s,omitempty"`
	Timings         []imapTimingR `json:"timings"`
	Clients         int           `json:"clients,omitempty"`
	DurationS       float64       `json:"duration_s,omitempty"`
	Sessions        int64         `json:"sessions,omitempty"`
	Commands        int64         `json:"commands,omitempty"`
	CommandsPerS    float64       `json:"commands_per_s,omitempty"`
	Errors          int64         `json:"errors"`
	Idle            int           `json:"idle,omitempty"`
	IdleEstablished int           `json:"idle_established,omitempty"`
}

// imapTimingR is one timed command: its fastest and median run.
type imapTimingR struct {
	Name     string  `json:"name"`
	MinMS    float64 `json:"min_ms"`
	MedianMS float64 `json:"median_ms"`
	Results  int     `json:"results"` // messages fetched or UIDs found, last run
}

// imapBench is one run of the imap mode against one user's mailbox.
type imapBench struct {
	Addr, User, Pass, Mailbox string
	Timeout                   time.Duration
	Gen                       *messageGen
}

// imapConn is a logged-in client whose connection a deadline guards.
type imapConn struct {
	*imapclient.Client
	conn    net.Conn
	timeout time.Duration
	stop    func() bool
}

// dial connects, reads the greeting and logs in. Cancelling ctx closes
// the connection.
func (b *imapBench) dial(ctx context.Context) (*imapConn, error) {
	conn, err := loopbackDialer(b.Timeout).DialContext(ctx, "tcp", b.Addr)
	if err != nil {
		return nil, fmt.Errorf("imap: %w", err)
	}
	c := &imapConn{Client: imapclient.New(conn, nil), conn: conn, timeout: b.Timeout}
	c.stop = context.AfterFunc(ctx, func() { c.Client.Close() })
	c.extend()
	if err := c.WaitGreeting(); err != nil {
		c.close()
		return nil, fmt.Errorf("imap %s: greeting: %w", b.Addr, err)
	}
	if err := c.Login(b.User, b.Pass).Wait(); err != nil {
		c.close()
		return nil, fmt.Errorf("imap %s: login as %s: %w", b.Addr, b.User, err)
	}
	return c, nil
}

// extend gives the next command the full timeout.
func (c *imapConn) extend() { c.conn.SetDeadline(time.Now().Add(c.timeout)) }

func (c *imapConn) close() {
	c.stop()
	c.Client.Close()
}

// logout ends the session politely, then closes the connection.
func (c *imapConn) logout() error {
	c.extend()
	err := c.Logout().Wait()
	c.close()
	return err
}

// appendOne appends generated message i and returns its UID (zero if the
// server does not report one).
func (b *imapBench) appendOne(c *imapConn, i int64) (imap.UID, error) {
	msg := b.Gen.appendMessage(nil, i, b.User, time.Now())
	c.extend()
	cmd := c.Append(b.Mailbox, int64(len(msg)), nil)
	if _, err := cmd.Write(msg); err != nil {
		cmd.Close()
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	data, err := cmd.Wait()
	if err != nil {
		return 0, err
	}
	return data.UID, nil
}

// fillResult is the outcome of --fill.
type fillResult struct {
	Have, Appended, Conns int
	Wall                  time.Duration
}

// fill creates the mailbox if it is missing and appends messages until
// it holds n, over up to fillConns connections.
func (b *imapBench) fill(ctx context.Context, n int) (fillResult, error) {
	var fr fillResult
	c, err := b.dial(ctx)
	if err != nil {
		return fr, err
	}
	defer c.close()
	c.extend()
	st, err := c.Status(b.Mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		c.extend()
		if cerr := c.Create(b.Mailbox, nil).Wait(); cerr != nil {
			return fr, fmt.Errorf("imap: status %q: %v; create: %w", b.Mailbox, err, cerr)
		}
		c.extend()
		if st, err = c.Status(b.Mailbox, &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
			return fr, fmt.Errorf("imap: status %q: %w", b.Mailbox, err)
		}
	}
	if st.NumMessages != nil {
		fr.Have = int(*st.NumMessages)
	}
	c.logout()
	missing := n - fr.Have
	if missing <= 0 {
		return fr, nil
	}

	fr.Conns = min(fillConns, missing)
	var next, done atomic.Int64
	errc := make(chan error, fr.Conns)
	start := time.Now()
	var wg sync.WaitGroup
	for range fr.Conns {
		wg.Go(func() {
			c, err := b.dial(ctx)
			if err != nil {
				errc <- err
				return
			}
			for {
				i := next.Add(1) - 1
				if i >= int64(missing) {
					break
				}
				if _, err := b.appendOne(c, int64(fr.Have)+i); err != nil {
					c.close()
					errc <- fmt.Errorf("imap: fill: append: %w", err)
					return
				}
				done.Add(1)
			}
			c.logout()
		})
	}
	wg.Wait()
	fr.Wall = time.Since(start)
	fr.Appended = int(done.Load())
	close(errc)
	if err := <-errc; err != nil {
		return fr, err
	}
	if err := ctx.Err(); err != nil {
		return fr, fmt.Errorf("imap: fill interrupted after %d messages", fr.Appended)
	}
	return fr, nil
}

// timeCommands times, over one connection, each command imapTimingRuns
// times.
func (b *imapBench) timeCommands(ctx context.Context) ([]imapTimingR, error) {
	c, err := b.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.close()

	var out []imapTimingR
	timeIt := func(name string, f func() (int, error)) error {
		d := make([]time.Duration, 0, imapTimingRuns)
		results := 0
		for range imapTimingRuns {
			c.extend()
			start := time.Now()
			n, err := f()
			if err != nil {
				return fmt.Errorf("imap: %s: %w", name, err)
			}
			d = append(d, time.Since(start))
			results = n
		}
		s := summarize(d)
		out = append(out, imapTimingR{Name: name, MinMS: ms(d[0]), MedianMS: ms(s.P50), Results: results})
		return nil
	}

	var total uint32
	if err := timeIt("SELECT", func() (int, error) {
		sd, err := c.Select(b.Mailbox, nil).Wait()
		if err != nil {
			return 0, err
		}
		total = sd.NumMessages
		return int(total), nil
	}); err != nil {
		return nil, err
	}
	if total == 0 {
		return nil, fmt.Errorf("imap: mailbox %q is empty; fill it with --fill N", b.Mailbox)
	}
	if err := timeIt("FETCH 1:* (FLAGS)", func() (int, error) {
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true}).Collect()
		return len(msgs), err
	}); err != nil {
		return nil, err
	}
	search := func(crit *imap.SearchCriteria) func() (int, error) {
		return func() (int, error) {
			sd, err := c.UIDSearch(crit, nil).Wait()
			if err != nil {
				return 0, err
			}
			return len(sd.AllUIDs()), nil
		}
	}
	if err := timeIt("UID SEARCH HEADER Subject", search(&imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: imapSubjectWord}},
	})); err != nil {
		return nil, err
	}
	if err := timeIt("UID SEARCH BODY", search(&imap.SearchCriteria{Body: []string{imapBodyWord}})); err != nil {
		return nil, err
	}

	// The UIDs of the last 100 messages, untimed.
	c.extend()
	sd, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("imap: UID SEARCH ALL: %w", err)
	}
	uids := sd.AllUIDs()
	uids = uids[max(0, len(uids)-100):]
	var last imap.UIDSet
	last.AddNum(uids...)
	if err := timeIt(fmt.Sprintf("UID FETCH %d BODY.PEEK[]", len(uids)), func() (int, error) {
		msgs, err := c.Fetch(last, &imap.FetchOptions{
			UID:         true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		return len(msgs), err
	}); err != nil {
		return nil, err
	}
	c.logout()
	return out, nil
}

// mixedResult is the outcome of the mixed workload.
type mixedResult struct {
	Sessions, Commands, Errors int64
	FirstErr                   error
	Wall                       time.Duration
}

func (r mixedResult) rate() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Commands) / r.Wall.Seconds()
}

// mixed runs clients goroutines that, until d has passed, each open
// session after session: login, select, fetch the flags of the last 50
// messages, set \Seen on one, append one and, every other session,
// expunge the one it appended. A session under way when d ends finishes.
func (b *imapBench) mixed(ctx context.Context, clients int, d time.Duration) mixedResult {
	var sessions, commands, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	seq := atomic.Int64{}
	seq.Store(1 << 30) // message numbers apart from --fill's
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(end) && ctx.Err() == nil {
				sessions.Add(1)
				if err := b.session(ctx, seq.Add(1), &commands); err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	return mixedResult{
		Sessions: sessions.Load(),
		Commands: commands.Load(),
		Errors:   failed.Load(),
		FirstErr: firstErr,
		Wall:     time.Since(start),
	}
}

// session is one session of the mixed workload; it counts the commands
// it issues in cmds.
func (b *imapBench) session(ctx context.Context, i int64, cmds *atomic.Int64) error {
	cmds.Add(1) // LOGIN
	c, err := b.dial(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	c.extend() // one deadline for the whole short session
	cmds.Add(1)
	sd, err := c.Select(b.Mailbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("imap: select: %w", err)
	}
	if n := sd.NumMessages; n > 0 {
		cmds.Add(1)
		// Up to '*', not n: another session's expunge can come as
		// EXPUNGE after SELECT's EXISTS, and a number past the end is BAD.
		msgs, err := c.Fetch(imap.SeqSet{{Start: max(1, n-49), Stop: 0}},
			&imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			return fmt.Errorf("imap: fetch flags: %w", err)
		}
		if len(msgs) > 0 {
			uid := msgs[int(i)%len(msgs)].UID
			cmds.Add(1)
			err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{
				Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen},
			}, nil).Close()
			if err != nil {
				return fmt.Errorf("imap: store \\Seen: %w", err)
			}
		}
	}
	cmds.Add(1)
	uid, err := b.appendOne(c, i)
	if err != nil {
		return fmt.Errorf("imap: append: %w", err)
	}
	c.extend()
	if i%2 == 0 && uid != 0 {
		cmds.Add(1)
		err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{
			Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted},
		}, nil).Close()
		if err != nil {
			return fmt.Errorf("imap: store \\Deleted: %w", err)
		}
		cmds.Add(1)
		if err := c.UIDExpunge(imap.UIDSetNum(uid)).Close(); err != nil {
			return fmt.Errorf("imap: uid expunge: %w", err)
		}
	}
	cmds.Add(1)
	if err := c.logout(); err != nil {
		return fmt.Errorf("imap: logout: %w", err)
	}
	return nil
}

// holdIdle opens k connections in IDLE on the mailbox, holds them for
// hold or until ctx ends, so that an operator can look at the server's
// memory, then ends them. It returns how many were established.
func (b *imapBench) holdIdle(ctx context.Context, k int, hold time.Duration, log io.Writer) int {
	var (
		mu    sync.Mutex
		conns []*imapConn
		idles []*imapclient.IdleCommand
		first error
	)
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range min(k, 32) {
		wg.Go(func() {
			for range work {
				c, err := b.dial(ctx)
				if err == nil {
					c.extend()
					if _, err = c.Select(b.Mailbox, nil).Wait(); err == nil {
						var idle *imapclient.IdleCommand
						if idle, err = c.Idle(); err == nil {
							c.conn.SetDeadline(time.Time{})
							mu.Lock()
							conns, idles = append(conns, c), append(idles, idle)
							mu.Unlock()
							continue
						}
					}
					c.close()
				}
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	for range k {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	up := len(conns)
	fmt.Fprintf(log, "idle: %d of %d connections in IDLE on %q; holding them for %s (Ctrl-C ends it)\n", up, k, b.Mailbox, hold)
	if first != nil {
		fmt.Fprintf(log, "idle: first error: %v\n", first)
	}
	t := time.NewTimer(hold)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	for i, c := range conns {
		c.extend()
		idles[i].Close()
		idles[i].Wait()
		c.logout()
	}
	return up
}
