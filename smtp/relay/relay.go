// Package relay delivers Pillarbox's outbound queue: one scheduler
// goroutine picks the due items, groups them by destination domain and
// message, and hands each group to go-smtp's client for the domain's MX
// hosts (or a smarthost), with a limit on connections per domain.
// Deferred items are retried on a Schedule; failed and expired ones
// bounce to their sender with a delivery status notification (RFC 3464).
package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pillarbox/mailbox"
)

// Options configures a Runner. Zero values are documented per field.
type Options struct {
	// Hostname is the EHLO name, the Reporting-MTA of notices and the
	// domain of their MAILER-DAEMON sender. Zero: "localhost".
	Hostname string
	// PrimaryDomain is the local domain a notice comes from
	// (MAILER-DAEMON@PrimaryDomain) when neither Hostname nor a domain
	// above it has DKIM keys, so that the notice is signed for the domain
	// in its From, as DMARC asks (RFC 7489 3.1). Zero: notices always
	// come from Hostname.
	PrimaryDomain string
	// Smarthost, as host:port, receives all mail instead of the
	// recipients' MX hosts. Zero: MX lookup.
	Smarthost string
	// Port is the port of MX hosts. Zero: "25".
	Port string
	// Schedule is the retry policy. Zero Retry: 5m, 10m, 20m, 40m, 80m,
	// 160m; zero MaxAge: 120h; zero DelayWarning: no warning.
	Schedule Schedule
	// Resolver looks up MX records. Zero: net.DefaultResolver.
	Resolver Resolver
	// Dialer opens connections to remote hosts. Zero: a net.Dialer with a
	// 30 s timeout.
	Dialer Dialer
	// TLS is the client configuration for STARTTLS; ServerName is set to
	// the host when empty. Zero: TLS 1.2 or later without checking the
	// certificate (opportunistic TLS, RFC 7435).
	TLS *tls.Config
	// Security is the transport security: smarthost login and TLS,
	// MTA-STS and DANE. Zero: see Security.
	Security Security
	// Clock is the scheduler's time. Zero: the system clock.
	Clock Clock
	// Logger gets one line per attempt and recipient. Zero: slog.Default().
	Logger *slog.Logger
	// PerDomain limits concurrent connections per destination domain.
	// Zero: 4.
	PerDomain int
	// MaxConnections limits concurrent connections in all. Zero: 32.
	MaxConnections int
	// CommandTimeout bounds the wait for each reply. Zero: 5 min (RFC
	// 5321 4.5.3.2).
	CommandTimeout time.Duration
	// DataTimeout bounds the wait for the reply to the end of the
	// message. Zero: 10 min (RFC 5321 4.5.3.2.6).
	DataTimeout time.Duration
	// PollInterval is how often the scheduler reads the queue generation
	// counter, to notice changes made by the CLI in another process (the
	// one thing that cannot kick it). It is a single-row read, not a scan
	// of the queue. Zero: 1 s; negative: never.
	PollInterval time.Duration
	// OnIdle, if set, is called whenever the scheduler waits with no
	// attempt in flight, with the earliest next attempt (zero when no
	// queued item has one). For tests and monitoring; it must be quick.
	OnIdle func(next time.Time)
	// OnAttempt, if set, is told the outcome of each recipient's
	// delivery attempt once it is recorded: delivered, deferred, or
	// failed (a permanent refusal, or a deferral past Schedule.MaxAge).
	// An attempt cut short by shutdown is not one. For metrics; it must
	// be quick. Zero: nothing is told.
	OnAttempt func(mailbox.QueueOutcome)
	// OnBounce, if set, is called for each failure notice (bounce) sent
	// or queued to a sender, once recorded. Zero: nothing is told.
	OnBounce func()

	// renewed, if set, is told the ids of each renewal of leases
	// (keepLeases), for tests.
	renewed func([]int64)
	// renewFailed, if set, is told when keepLeases tries again after a
	// renewal failed, for tests.
	renewFailed func(retry time.Time)
}

// errorBackoff is the wait after the store failed the scheduler.
const errorBackoff = 10 * time.Second

// Runner delivers the queue. Run it once; Kick it after queueing mail.
type Runner struct {
	svc  *mailbox.Service
	opts Options
	sec  *security
	log  *slog.Logger
	kick chan struct{}
	done chan struct{}

	// cursor is the domain the scheduler last gave work to: the next walk
	// over the domains starts after it. Only the scheduler goroutine
	// (Run) touches it.
	cursor string

	mu       sync.Mutex
	inflight map[int64]bool        // queue ids of running attempts
	load     map[string]domainLoad // running attempts per domain
	total    int                   // connections in all
}

// New returns a Runner for the queue of svc.
func New(svc *mailbox.Service, opts Options) *Runner {
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.Port == "" {
		opts.Port = "25"
	}
	if len(opts.Schedule.Retry) == 0 {
		for _, m := range []time.Duration{5, 10, 20, 40, 80, 160} {
			opts.Schedule.Retry = append(opts.Schedule.Retry, m*time.Minute)
		}
	}
	if opts.Schedule.MaxAge <= 0 {
		opts.Schedule.MaxAge = 120 * time.Hour
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{Timeout: 30 * time.Second}
	}
	if opts.TLS == nil {
		opts.TLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PerDomain <= 0 {
		opts.PerDomain = 4
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 32
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 5 * time.Minute
	}
	if opts.DataTimeout <= 0 {
		opts.DataTimeout = 10 * time.Minute
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Second
	}
	return &Runner{
		svc:      svc,
		opts:     opts,
		sec:      &security{Security: opts.Security},
		log:      opts.Logger,
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}, 1),
		inflight: make(map[int64]bool),
		load:     make(map[string]domainLoad),
	}
}

// Kick wakes the scheduler to look at the queue now, say after new mail
// was queued. It never blocks.
func (r *Runner) Kick() { signal(r.kick) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run schedules deliveries until ctx ends, then interrupts the attempts
// in flight, records what they achieved, and returns nil. An interrupted
// attempt is retried after a restart like one of a process that died.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	var poll <-chan time.Time
	if r.opts.PollInterval > 0 {
		t := time.NewTicker(r.opts.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	gen, err := r.svc.QueueGeneration(ctx)
	if err != nil {
		r.log.Error("relay: queue generation", "err", err)
	}
	for {
		wake := r.round(ctx, &wg)
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-wake:
				break wait
			case <-r.kick:
				break wait
			case <-r.done:
				break wait
			case <-poll:
				g, err := r.svc.QueueGeneration(ctx)
				if err != nil {
					r.log.Error("relay: queue generation", "err", err)
					continue
				}
				if g != gen {
					gen = g
					break wait
				}
			}
		}
	}
}

// group is the recipients of one message in one domain: they share one
// SMTP transaction.
type group struct {
	items []mailbox.QueueItem
}

func (g *group) sender() string { return g.items[0].Sender }

// job is one connection's work: groups of one domain, delivered in turn.
type job struct {
	domain string
	groups []*group
}

func (r *Runner) runJob(ctx context.Context, j *job) {
	defer func() {
		if p := recover(); p != nil {
			// The items stay claimed and are retried at their lease.
			r.log.Error("relay: panic in delivery", "domain", j.domain, "panic", p)
		}
	}()
	// While the job runs, its items' leases are renewed: no other node
	// takes them, however long the attempts take.
	var at atomic.Int32 // the group being tried; those before it are tried
	stop := make(chan struct{})
	defer close(stop)
	go r.keepLeases(ctx, heldLeases(j, r.opts.Schedule), &at, stop)
	var rt *route
	var c *conn
	defer func() { c.close() }()
	// Recording a group's results (a commit) overlaps with the next
	// group's transaction; at most one is outstanding.
	var recording sync.WaitGroup
	defer recording.Wait()
	for i, g := range j.groups {
		at.Store(int32(i))
		if len(g.items) == 0 {
			continue
		}
		if ctx.Err() != nil {
			return // claimed: retried at the lease, as after a crash
		}
		if rt == nil {
			found := r.lookupRoute(ctx, j.domain)
			rt = &found
		}
		data, err := r.svc.QueueMessage(ctx, g.items[0])
		var replies []reply
		if err != nil {
			r.log.Error("relay: reading a queued message", "queue_id", g.items[0].ID, "err", err)
			replies = fill(len(g.items), reply{temporary: true, status: "4.3.0", text: "local error reading the message"})
		} else {
			data = stripReturnPath(data)
			if signed, err := r.sign(ctx, g.sender(), data); err != nil {
				// Unsigned mail from a domain that publishes keys would
				// be junked or refused: wait for the local fault to clear.
				r.log.Error("relay: signing a queued message", "queue_id", g.items[0].ID, "err", err)
				replies = fill(len(g.items), reply{temporary: true, status: "4.3.0", text: "local error signing the message"})
			} else {
				data = signed
				replies = r.attempt(ctx, rt, &c, g, data)
			}
		}
		at.Store(int32(i + 1)) // tried: its leases need no renewal
		recording.Wait()
		recording.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					r.log.Error("relay: panic recording attempt", "domain", j.domain, "panic", p)
				}
			}()
			r.finish(ctx, g, replies, data)
		})
	}
}

func fill(n int, rp reply) []reply {
	out := make([]reply, n)
	for i := range out {
		out[i] = rp
	}
	return out
}

// attempt delivers one group, trying the route's hosts in order until
// one gives an answer for the recipients, and returns one reply per item.
func (r *Runner) attempt(ctx context.Context, rt *route, c **conn, g *group, data []byte) []reply {
	if rt.fail != nil {
		return fill(len(g.items), *rt.fail)
	}
	env := groupEnvelope(g)
	start := 0
	connected := *c != nil
	if *c != nil {
		for i, h := range rt.hosts {
			if h == (*c).host {
				start = i
			}
		}
	}
	last := reply{temporary: true, status: "4.4.1", text: "no host to deliver to"}
	defer func() {
		if !connected && last.isTemporary() && ctx.Err() == nil {
			// No host could be reached, or every one refused to start a
			// session (a failed smarthost login among them): the job's
			// other messages wait for the next attempt too, instead of
			// dialling and logging in again for each of them.
			rt.fail = &last
		}
	}()
	for _, host := range rt.hosts[start:] {
		if *c != nil && ((*c).host != host || (*c).broken) {
			(*c).close()
			*c = nil
		}
		if *c == nil {
			nc, err := r.dial(ctx, rt, host)
			if err != nil {
				if rt.implicit && isNotFound(err) {
					// RFC 5321 5.1: no MX and no address: no such domain.
					return fill(len(g.items), reply{status: "5.1.2", text: "Domain " + host + " does not exist"})
				}
				last = errReply(err, host)
				continue
			}
			*c = nc
			connected = true
		}
		sendEnv := env
		if env.mail.RequireTLS {
			if rp, refused := requireTLSRefusal(*c); refused && env.from != "" {
				// RFC 8689 4.2.1: try the next host; bounce if none
				// qualifies. The connection may serve other messages.
				last = rp
				(*c).markOne(&last)
				continue
			} else if refused {
				// A notice about a REQUIRETLS message asks for it too, but
				// must not be lost for want of it (RFC 8689 5): it goes
				// without, and carries only headers (finish).
				plain := *env
				plain.mail.RequireTLS = false
				sendEnv = &plain
			}
		}
		replies, err := (*c).send(sendEnv, data)
		if err != nil {
			last = errReply(err, host)
			(*c).markOne(&last)
			if last.code != 0 && !last.isTemporary() {
				// The remote refused the transaction itself (MAIL FROM).
				return fill(len(g.items), last)
			}
			(*c).close()
			*c = nil
			continue
		}
		return replies
	}
	return fill(len(g.items), last)
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// finish records one group's attempt, with the notice to its sender that
// the attempt calls for, and logs one line per recipient.
func (r *Runner) finish(ctx context.Context, g *group, replies []reply, data []byte) {
	now := r.opts.Clock.Now()
	stopping := ctx.Err() != nil
	sched := r.opts.Schedule
	var results []mailbox.QueueResult
	var report []dsnRecipient
	type logLine struct {
		level slog.Level
		msg   string
		attrs []any
	}
	var lines []logLine
	for i, it := range g.items {
		rp := replies[i]
		res := mailbox.QueueResult{ID: it.ID, Attempt: mailbox.QueueAttempt{At: now, Remote: rp.remote, Reply: rp.String(), TLS: rp.tlsNote}}
		attrs := []any{"queue_id", it.ID, "rcpt", it.Recipient, "from", it.Sender, "remote", rp.remote,
			"reply", rp.String(), "tls", rp.tls, "tls_note", rp.tlsNote, "attempt", it.Attempts, "message_id", it.MessageID}
		block := dsnRecipient{Recipient: it.Recipient, ORcpt: it.Params.ORcpt, Reply: rp, LastAttempt: now}
		switch {
		case rp.ok():
			res.Outcome = mailbox.QueueDelivered
			// RFC 3461 5.2.1, 5.2.2: a next hop that offers DSN has the NOTIFY
			// and reports success itself; one that does not gets the
			// message "relayed", which is what the sender hears.
			if !rp.dsn && notifies(it.Params, actionRelayed) {
				block.Action = actionRelayed
				report = append(report, block)
				res.Reported = true
			}
			lines = append(lines, logLine{slog.LevelInfo, "relay: delivered", attrs})
		case !rp.isTemporary():
			res.Outcome = mailbox.QueueFailed
			if notifies(it.Params, actionFailed) {
				block.Action = actionFailed
				report = append(report, block)
			}
			lines = append(lines, logLine{slog.LevelWarn, "relay: failed", attrs})
		case stopping:
			// Interrupted by shutdown: not a real attempt. The claim
			// already scheduled the next one.
			r.log.Info("relay: interrupted", attrs...)
			continue
		default:
			next, expired := sched.Next(it.Created, now, it.BackoffStep())
			if expired {
				if rp.code == 0 {
					rp.status = "4.4.7" // RFC 3463: delivery time expired
				}
				res.Outcome = mailbox.QueueFailed
				if notifies(it.Params, actionFailed) {
					block.Action, block.Reply = actionFailed, rp
					block.Expired = fmt.Sprintf("gave up after %d attempts over %s", it.Attempts, now.Sub(it.Created).Round(time.Second))
					report = append(report, block)
				}
				lines = append(lines, logLine{slog.LevelWarn, "relay: expired", attrs})
				break
			}
			res.Outcome, res.Next = mailbox.QueueDeferred, next
			if it.Sender != "" && !it.Warned && notifies(it.Params, actionDelayed) && sched.Warn(it.Created, now) {
				res.Warned = true
				block.Action, block.RetryUntil = actionDelayed, it.Created.Add(sched.MaxAge)
				report = append(report, block)
			}
			lines = append(lines, logLine{slog.LevelInfo, "relay: deferred", append(attrs, "next", next.Format(time.RFC3339))})
		}
		results = append(results, res)
	}
	if len(results) == 0 {
		return
	}
	var n *mailbox.Notice
	if len(report) > 0 {
		if g.sender() == "" {
			// RFC 5321 4.5.5 / RFC 3464: never a notice about a notice.
			r.log.Info("relay: no notice for a message without sender", "queue_id", g.items[0].ID)
		} else {
			// RFC 8689 5: a notice about a REQUIRETLS message carries the
			// header only, whatever RET asked for.
			p := g.items[0].Params
			d := &dsn{Hostname: r.opts.Hostname, FromDomain: r.noticeDomain(ctx), To: g.sender(), Arrival: g.items[0].Created, Date: now,
				EnvID: p.EnvID, Original: data, Full: p.Ret == "FULL" && !p.RequireTLS, Recipients: report}
			n = &mailbox.Notice{To: g.sender(), AccountID: g.items[0].AccountID, Data: d.build(), RequireTLS: p.RequireTLS}
		}
	}
	sent, err := r.svc.FinishQueueItems(context.WithoutCancel(ctx), results, n)
	if err != nil {
		// The items stay claimed and are retried at their lease.
		r.log.Error("relay: recording attempt failed", "queue_id", g.items[0].ID, "err", err)
	} else if r.opts.OnAttempt != nil {
		for _, res := range results {
			r.opts.OnAttempt(res.Outcome)
		}
	}
	// One line per recipient and attempt, logged once the outcome is
	// recorded, so that what the log says is what the queue holds.
	for _, l := range lines {
		r.log.Log(context.Background(), l.level, l.msg, l.attrs...)
	}
	if err != nil || n == nil {
		return
	}
	kind := map[string]string{actionFailed: "bounce", actionDelayed: "delay warning", actionDelivered: "success notice"}[(&dsn{Recipients: report}).kind()]
	if kind == "bounce" && sent.Dropped == "" && r.opts.OnBounce != nil {
		r.opts.OnBounce()
	}
	switch {
	case sent.Dropped != "":
		r.log.Warn("relay: notice not sent", "kind", kind, "to", g.sender(), "reason", sent.Dropped)
	case sent.QueueID != 0:
		r.log.Info("relay: notice queued", "kind", kind, "to", g.sender(), "queue_id", sent.QueueID)
		r.Kick()
	default:
		r.log.Info("relay: notice delivered", "kind", kind, "to", g.sender(), "accounts", sent.Accounts)
	}
}

// stripReturnPath drops the Return-Path field the submission server put
// first: it belongs to the final delivery (RFC 5321 4.4), not to mail in
// transit.
func stripReturnPath(data []byte) []byte {
	const name = "return-path:"
	if len(data) < len(name) || !strings.EqualFold(string(data[:len(name)]), name) {
		return data
	}
	rest := data
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return data
		}
		rest = rest[i+1:]
		if len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
			return rest
		}
	}
}
