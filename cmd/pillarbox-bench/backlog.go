package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"pillarbox/mailbox"
	"pillarbox/smtp/relay"
	"pillarbox/store"
	"pillarbox/store/sqlite"
)

// cmdBacklog is the backlog mode: it writes a queue of N messages, one
// recipient each, spread over D recipient domains, straight into a new
// data directory through the mailbox API (the transactions submission
// makes), then runs the relay on that queue as serve runs it, with a
// loopback sink this command runs as its smarthost. It reports how long
// the queue took to empty, the rate, and the longest time the sink went
// without a message (a stalled scheduler shows there). Building the
// backlog first, rather than submitting while the relay runs, measures
// the relay alone on a queue that is all due at once.
func cmdBacklog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backlog", flag.ContinueOnError)
	dataDir := fs.String("data", "", "new data `directory` to build the queue in; default a temporary one, removed at the end")
	sinkAddr := fs.String("sink", "127.0.0.1:2626", "`host:port` to receive the relayed mail on (loopback only); the relay's smarthost")
	n := fs.Int("n", 100000, "number of queued messages (one recipient each)")
	domains := fs.Int("domains", 1000, "number of recipient domains, round-robin")
	size := fs.Int("size", 4096, "size of each message in `bytes`, headers included")
	builders := fs.Int("c", 8, "concurrent submissions while building the queue")
	maxConns := fs.Int("max-connections", 32, "the relay's [relay] max_connections")
	perDomain := fs.Int("per-domain", 4, "the relay's [relay] per_domain")
	dkim := fs.Bool("dkim", true, "sign with the sender domain's DKIM keys (RSA and Ed25519), as serve does for a local domain")
	wait := fs.Duration("wait", 30*time.Minute, "how long to wait for the queue to empty")
	asJSON := fs.Bool("json", false, "print the result as one JSON line on stdout (the summary goes to stderr)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the drain (not of building the queue) to `file`")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case *n < 1:
		return errors.New("backlog: -n must be at least 1")
	case *domains < 1:
		return errors.New("backlog: --domains must be at least 1")
	case *builders < 1:
		return errors.New("backlog: -c must be at least 1")
	case *maxConns < 1 || *perDomain < 1 || *perDomain > *maxConns:
		return errors.New("backlog: --max-connections and --per-domain must be positive, per-domain at most max-connections")
	}
	if err := checkLoopback("sink", *sinkAddr); err != nil {
		return err
	}
	dir, cleanup, err := backlogDir(*dataDir)
	if err != nil {
		return err
	}
	defer cleanup()

	b := &backlog{dir: dir, n: *n, domains: *domains, conns: *builders, from: "bench@bench-sender.example"}
	b.gen = newMessageGen(b.from, *size)
	if err := b.open(ctx, *dkim); err != nil {
		return err
	}
	defer b.db.Close()
	human := stdout
	if *asJSON {
		human = stderr
	}
	fmt.Fprintf(human, "backlog in %s: %d messages of %d bytes for %d domains\n", dir, b.n, *size, b.domains)
	built, err := b.build(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(human, "  queued     %.3f s  %.1f msg/s (mailbox.Submit, %d at once)\n", built.Seconds(), rate(b.n, built), b.conns)

	sink, err := startBenchSink(*sinkAddr, b.gen.run, b.n)
	if err != nil {
		return err
	}
	defer sink.close()
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	res, err := b.drain(ctx, sink, relay.Options{
		Hostname:       "relay.bench-sender.example",
		PrimaryDomain:  "bench-sender.example",
		Smarthost:      sink.addr,
		Security:       relay.Security{SmarthostTLS: "none"}, // the sink speaks plaintext
		Dialer:         loopbackDialer(30 * time.Second),
		MaxConnections: *maxConns,
		PerDomain:      *perDomain,
		Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, *wait, human)
	if err != nil {
		return err
	}
	fmt.Fprintf(human, "  relay      max_connections %d, per_domain %d, DKIM %t\n", *maxConns, *perDomain, *dkim)
	fmt.Fprintf(human, "  delivered  %d of %d  duplicates %d  left in queue %d\n", res.Relayed, b.n, res.Duplicates, res.Left)
	fmt.Fprintf(human, "  empty      %.3f s after the relay started  %.1f msg/s\n", res.Empty.Seconds(), rate(res.Relayed, res.Empty))
	fmt.Fprintf(human, "  cpu        %.1f s for relay and sink while draining, %.2f ms per message\n", res.CPU.Seconds(),
		float64(res.CPU.Microseconds())/1000/float64(max(res.Relayed, 1)))
	fmt.Fprintf(human, "  sink       longest gap between messages %.3f s; %d connections, at most %d at once\n",
		res.MaxGap.Seconds(), res.Connections, res.MaxConns)
	if *asJSON {
		out, err := json.Marshal(map[string]any{
			"mode": "backlog", "messages": b.n, "domains": b.domains, "size": *size,
			"max_connections": *maxConns, "per_domain": *perDomain, "dkim": *dkim,
			"queue_s": round3(built.Seconds()), "relayed": res.Relayed, "duplicates": res.Duplicates, "left": res.Left,
			"empty_s": round3(res.Empty.Seconds()), "msg_per_s": round1(rate(res.Relayed, res.Empty)),
			"max_gap_s": round3(res.MaxGap.Seconds()), "max_sink_conns": res.MaxConns, "sink_connections": res.Connections, "cpu_s": round1(res.CPU.Seconds()),
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", out)
	}
	var errs []error
	if res.Left > 0 || res.Relayed < b.n {
		errs = append(errs, fmt.Errorf("backlog: %d of %d delivered, %d left in the queue after %v", res.Relayed, b.n, res.Left, *wait))
	}
	if ctx.Err() != nil {
		errs = append(errs, errors.New("backlog: interrupted"))
	}
	return errors.Join(errs...)
}

// backlogDir returns the data directory to use, which must be new or
// empty so that the queue holds only this run's messages.
func backlogDir(dir string) (string, func(), error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "pillarbox-backlog-")
		if err != nil {
			return "", nil, fmt.Errorf("backlog: %w", err)
		}
		return d, func() { os.RemoveAll(d) }, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", nil, fmt.Errorf("backlog: %w", err)
	}
	if len(entries) > 0 {
		return "", nil, fmt.Errorf("backlog: --data %s is not empty", dir)
	}
	return dir, func() {}, nil
}

// backlog is one run of the backlog mode.
type backlog struct {
	dir        string
	n, domains int
	conns      int
	from       string
	gen        *messageGen
	db         store.Store
	svc        *mailbox.Service
	acct       mailbox.Account
	fromAddr   mailbox.Address
}

// open makes the store with the sending account, and with the sender
// domain's DKIM keys when dkim is set.
func (b *backlog) open(ctx context.Context, dkim bool) error {
	db, err := sqlite.Open(filepath.Join(b.dir, "pillarbox.db"), sqlite.Options{SearchText: mailbox.TextFunc(mailbox.Limits{})})
	if err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"bench-sender.example"}, BcryptCost: 4, Logger: quiet})
	if err == nil && dkim {
		_, err = svc.AddDomain(ctx, "bench-sender.example")
	}
	if err == nil {
		err = svc.AddUser(ctx, b.from, "bench")
	}
	if err == nil {
		b.acct, err = svc.Authenticate(ctx, b.from, "bench")
	}
	if err == nil {
		b.fromAddr, err = mailbox.ParseAddress(b.from)
	}
	if err != nil {
		db.Close()
		return fmt.Errorf("backlog: %w", err)
	}
	b.db, b.svc = db, svc
	return nil
}

// rcpt is message i's recipient: the domains take turns.
func (b *backlog) rcpt(i int) string {
	return fmt.Sprintf("rcpt%d@d%04d.relay-bench.test", i/b.domains, i%b.domains)
}

// build queues the messages with b.conns submissions at once (the store
// commits concurrent transactions together) and returns the time taken.
func (b *backlog) build(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range b.conns {
		wg.Go(func() {
			var buf []byte
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= b.n {
					return
				}
				to, err := mailbox.ParseAddress(b.rcpt(i))
				if err == nil {
					buf = b.gen.appendMessage(buf[:0], int64(i), to.String(), time.Now())
					_, err = b.svc.Submit(ctx, &mailbox.Submission{Account: b.acct, From: b.fromAddr, Remote: []mailbox.Address{to},
						Data: slices.Clone(buf)})
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("backlog: queueing message %d: %w", i+1, err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return time.Since(start), firstErr
}

type backlogResult struct {
	Relayed, Duplicates, Left int
	Empty, MaxGap             time.Duration
	MaxConns, Connections     int
	CPU                       time.Duration // of the whole process (relay and sink) while draining
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// drain runs the relay until the queue is empty (the scheduler idle with
// no next attempt) or wait passes, printing progress every 10 s.
func (b *backlog) drain(ctx context.Context, sink *benchSink, opts relay.Options, wait time.Duration, progress io.Writer) (res backlogResult, err error) {
	empty := make(chan struct{}, 1)
	opts.OnIdle = func(next time.Time) {
		if next.IsZero() {
			select {
			case empty <- struct{}{}:
			default:
			}
		}
	}
	runner := relay.New(b.svc, opts)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- runner.Run(rctx) }()
	defer func() {
		stop()
		<-done
	}()

	cpu0 := cpuTime()
	defer func() { res.CPU = cpuTime() - cpu0 }()
	deadline := time.After(wait)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-empty:
			items, err := b.svc.QueueList(ctx)
			if err != nil {
				return res, fmt.Errorf("backlog: %w", err)
			}
			if len(items) == 0 {
				res.Empty = time.Since(start)
				break wait
			}
		case <-tick.C:
			fmt.Fprintf(progress, "  … %.0f s: %d delivered\n", time.Since(start).Seconds(), sink.delivered())
		case <-deadline:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	if res.Empty == 0 {
		res.Empty = time.Since(start)
	}
	items, err := b.svc.QueueList(context.WithoutCancel(ctx))
	if err != nil {
		return res, fmt.Errorf("backlog: %w", err)
	}
	res.Left = len(items)
	arrivals := sink.waitFor(ctx, b.n, 0)
	var times []time.Time
	for _, at := range arrivals {
		if !at.IsZero() {
			times = append(times, at)
		}
	}
	res.Relayed = len(times)
	res.Duplicates = sink.duplicates()
	res.MaxConns = sink.maxConns()
	res.Connections = sink.connections()
	res.MaxGap = longestGap(start, times)
	return res, nil
}

// longestGap is the longest time between start and the first arrival or
// between two arrivals.
func longestGap(start time.Time, times []time.Time) time.Duration {
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	last := start
	for _, t := range times {
		gap = max(gap, t.Sub(last))
		last = t
	}
	return gap
}

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("backlog: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("backlog: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
