package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// cmdSMTP is the smtp mode: send N messages over C connections, report
// throughput and the latency from the end of DATA to its reply, and
// optionally confirm that every accepted message reached its mailbox.
func cmdSMTP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("smtp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:2525", "SMTP server `host:port` (loopback only)")
	n := fs.Int("n", 1000, "number of messages to send")
	conns := fs.Int("c", 1, "number of concurrent SMTP connections")
	size := fs.Int("size", 10240, "size of each message in `bytes`, headers included")
	from := fs.String("from", "bench@example.net", "envelope sender and From address")
	to := fs.String("to", "testuser%d@example.test", "recipient; %d is replaced by 1..users, round-robin")
	users := fs.Int("users", 100, "number of recipients when --to contains %d")
	reuse := fs.Bool("reuse", true, "send many messages per connection; false: a new connection per message")
	rset := fs.Bool("rset", true, "with --reuse, send RSET between messages (go-smtp's client then repeats EHLO)")
	timeout := fs.Duration("timeout", time.Minute, "limit for each connect, command and reply")
	verifyIMAP := fs.String("verify-imap", "", "confirm delivery over IMAP at `host:port` (loopback only): STATUS INBOX of each user")
	verifyPass := fs.String("verify-pass", "", "password of every user for --verify-imap")
	verifyDB := fs.String("verify-db", "", "confirm delivery in the Pillarbox data `dir` (its pillarbox.db)")
	verifyTimeout := fs.Duration("verify-timeout", 30*time.Second, "how long to wait for the mailboxes to show every accepted message")
	asJSON := fs.Bool("json", false, "print the result as one JSON line on stdout (the summary goes to stderr)")
	dkimKey := fs.String("dkim-key", "", "sign every message for the --from domain with this PEM private `file` (made before the run starts)")
	dkimSel := fs.String("dkim-selector", "bench", "DKIM selector of --dkim-key")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}

	switch {
	case *n < 1:
		return errors.New("smtp: -n must be at least 1")
	case *conns < 1:
		return errors.New("smtp: -c must be at least 1")
	case *size < 0:
		return errors.New("smtp: --size must not be negative")
	case *verifyIMAP != "" && *verifyDB != "":
		return errors.New("smtp: give --verify-imap or --verify-db, not both")
	case *verifyIMAP != "" && *verifyPass == "":
		return errors.New("smtp: --verify-imap needs --verify-pass")
	}
	if err := checkLoopback("addr", *addr); err != nil {
		return err
	}
	if *verifyIMAP != "" {
		if err := checkLoopback("verify-imap", *verifyIMAP); err != nil {
			return err
		}
	}
	rcpts, err := recipients(*to, *users)
	if err != nil {
		return err
	}

	load := &smtpLoad{
		Addr:    *addr,
		N:       *n,
		Conns:   min(*conns, *n),
		From:    *from,
		Rcpts:   rcpts,
		Reuse:   *reuse,
		RSET:    *rset,
		Timeout: *timeout,
		Gen:     newMessageGen(*from, *size),
	}
	if *dkimKey != "" {
		key, err := loadDKIMKey(*dkimKey)
		if err != nil {
			return err
		}
		if load.Signed, err = signedMessages(load.Gen, rcpts, *n, *dkimSel, key); err != nil {
			return err
		}
	}
	vopts := verifyOptions{
		IMAPAddr: *verifyIMAP,
		IMAPPass: *verifyPass,
		DBDir:    *verifyDB,
		Timeout:  *verifyTimeout,
		Log:      slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	domains := domainsOf(rcpts)

	var before map[string]int
	if vopts.enabled() {
		// Count first: the mailboxes may hold mail from earlier runs.
		c, err := vopts.open(domains)
		if err != nil {
			return err
		}
		before, err = inboxCounts(ctx, c, rcpts)
		c.Close()
		if err != nil {
			return fmt.Errorf("verify: counting before the run: %w", err)
		}
	}

	res := load.run(ctx)

	human := stdout
	if *asJSON {
		human = stderr
	}
	printSMTPSummary(human, load, *size, res)

	var verr error
	var vres verifyResult
	verified := vopts.enabled() && ctx.Err() == nil
	if verified {
		var c inboxCounter
		c, verr = vopts.open(domains)
		if verr == nil {
			vres, verr = verifyDelivery(ctx, c, before, res.Accepted, res.End, vopts.Timeout)
			c.Close()
		}
		if verr == nil {
			fmt.Fprintln(human, vres)
			fmt.Fprintf(human, "  end to end %.3f s  %.1f msg/s in the mailboxes\n",
				(res.Wall + vres.Waited).Seconds(), endToEndRate(res, vres))
		}
	}
	if *asJSON {
		line := smtpJSONLine(load, *size, res)
		if verified {
			ok := verr == nil
			line.Verified = &ok
			if ok {
				line.ConfirmedAfterS = round3(vres.Waited.Seconds())
				line.EndToEndPerS = round1(endToEndRate(res, vres))
			} else {
				line.VerifyError = verr.Error()
			}
		}
		b, err := json.Marshal(line)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	}

	var errs []error
	if res.Failed() > 0 {
		errs = append(errs, fmt.Errorf("smtp: %d of %d messages failed", res.Failed(), res.Attempted))
	}
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("smtp: interrupted after %d of %d messages", res.Attempted, load.N))
	}
	errs = append(errs, verr)
	return errors.Join(errs...)
}

// recipients expands a --to template: each "%d" becomes 1..users. A
// template without "%d" is one literal address.
func recipients(tmpl string, users int) ([]string, error) {
	if !strings.Contains(tmpl, "@") {
		return nil, fmt.Errorf("smtp: --to %q is not an address", tmpl)
	}
	if !strings.Contains(tmpl, "%d") {
		return []string{tmpl}, nil
	}
	if users < 1 {
		return nil, errors.New("smtp: --users must be at least 1")
	}
	rcpts := make([]string, users)
	for i := range rcpts {
		rcpts[i] = strings.ReplaceAll(tmpl, "%d", strconv.Itoa(i+1))
	}
	return rcpts, nil
}

// domainsOf returns the distinct domains of addrs.
func domainsOf(addrs []string) []string {
	var ds []string
	for _, a := range addrs {
		if i := strings.LastIndexByte(a, '@'); i >= 0 && !slices.Contains(ds, a[i+1:]) {
			ds = append(ds, a[i+1:])
		}
	}
	return ds
}

// smtpLoad is one run of the smtp mode.
type smtpLoad struct {
	Addr    string
	N       int // messages to send
	Conns   int // concurrent connections
	From    string
	Rcpts   []string // message i goes to Rcpts[i % len(Rcpts)]
	Reuse   bool     // many messages per connection
	RSET    bool     // with Reuse: RSET after every message
	Timeout time.Duration
	Gen     *messageGen
	// Signed, when set, holds every message of the run, made up front
	// (DKIM-signed); message i goes to Rcpts[i % len(Rcpts)] as ever.
	Signed [][]byte
}

// smtpResult is what a run measured.
type smtpResult struct {
	Attempted int               // messages tried (N unless interrupted)
	Delivered int               // messages answered 250 after DATA
	Failures  map[string]int    // failed messages by reply code, or "connect"/"network"
	Examples  map[string]string // the first error of each failure kind
	Accepted  map[string]int    // 250s by recipient
	Wall      time.Duration     // first connect to last reply
	End       time.Time         // when the last reply came
	Latency   latencySummary    // end of DATA to 250, delivered messages only
}

// Failed is the number of messages that did not get a 250.
func (r *smtpResult) Failed() int {
	n := 0
	for _, v := range r.Failures {
		n += v
	}
	return n
}

// PerSecond is delivered messages per second of wall time.
func (r *smtpResult) PerSecond() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.Wall.Seconds()
}

// run sends the messages and gathers the workers' measurements. When ctx
// ends, workers finish the message in hand and stop.
func (l *smtpLoad) run(ctx context.Context) *smtpResult {
	var next atomic.Int64
	workers := make([]*smtpWorker, l.Conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		w := &smtpWorker{
			l:        l,
			accepted: make([]int, len(l.Rcpts)),
			failures: make(map[string]int),
			examples: make(map[string]string),
			lat:      make([]time.Duration, 0, l.N/l.Conns+1),
		}
		workers[i] = w
		wg.Go(func() { w.loop(ctx, &next) })
	}
	wg.Wait()

	res := &smtpResult{
		Failures: make(map[string]int),
		Examples: make(map[string]string),
		Accepted: make(map[string]int),
	}
	var lat []time.Duration
	end := start
	for _, w := range workers {
		res.Attempted += w.attempted
		res.Delivered += len(w.lat)
		lat = append(lat, w.lat...)
		for k, v := range w.failures {
			res.Failures[k] += v
			if _, ok := res.Examples[k]; !ok {
				res.Examples[k] = w.examples[k]
			}
		}
		for i, v := range w.accepted {
			res.Accepted[l.Rcpts[i]] += v
		}
		if w.last.After(end) {
			end = w.last
		}
	}
	res.Wall = end.Sub(start)
	res.End = end
	res.Latency = summarize(lat)
	return res
}

// smtpWorker sends messages over one connection at a time.
type smtpWorker struct {
	l   *smtpLoad
	c   *gosmtp.Client
	buf []byte

	attempted int
	lat       []time.Duration // of each delivered message
	accepted  []int           // 250s by index in l.Rcpts
	failures  map[string]int
	examples  map[string]string
	last      time.Time // when the last message was answered or failed
}

func (w *smtpWorker) loop(ctx context.Context, next *atomic.Int64) {
	defer w.quit()
	for ctx.Err() == nil {
		i := next.Add(1) - 1
		if i >= int64(w.l.N) {
			return
		}
		w.attempted++
		if w.c == nil {
			if err := w.connect(ctx); err != nil {
				w.last = time.Now()
				w.fail("connect", err)
				continue
			}
		}
		lat, err := w.send(i)
		w.last = time.Now()
		var smtpErr *gosmtp.SMTPError
		switch {
		case err == nil:
			w.lat = append(w.lat, lat)
			w.accepted[i%int64(len(w.l.Rcpts))]++
		case errors.As(err, &smtpErr):
			w.fail(strconv.Itoa(smtpErr.Code), err)
			// The connection is fine; end the failed transaction.
			if w.l.Reuse && w.c.Reset() != nil {
				w.drop()
			}
		default:
			// A network error leaves the dialogue in an unknown state.
			w.fail("network", err)
			w.drop()
		}
		switch {
		case w.c == nil:
		case !w.l.Reuse:
			w.quit()
		case err == nil && w.l.RSET:
			if err := w.c.Reset(); err != nil {
				w.drop()
			}
		}
	}
}

func (w *smtpWorker) connect(ctx context.Context) error {
	conn, err := loopbackDialer(w.l.Timeout).DialContext(ctx, "tcp", w.l.Addr)
	if err != nil {
		return err
	}
	c := gosmtp.NewClient(conn)
	c.CommandTimeout = w.l.Timeout
	c.SubmissionTimeout = w.l.Timeout
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		return err
	}
	w.c = c
	return nil
}

// send sends message i and returns the time from the end of its data
// (the final dot, written by the Data writer's Close) to the reply.
func (w *smtpWorker) send(i int64) (time.Duration, error) {
	to := w.l.Rcpts[i%int64(len(w.l.Rcpts))]
	if w.l.Signed != nil {
		w.buf = w.l.Signed[i]
	} else {
		w.buf = w.l.Gen.appendMessage(w.buf[:0], i, to, time.Now())
	}
	if err := w.c.Mail(w.l.From, &gosmtp.MailOptions{Size: int64(len(w.buf))}); err != nil {
		return 0, err
	}
	if err := w.c.Rcpt(to, nil); err != nil {
		return 0, err
	}
	d, err := w.c.Data()
	if err != nil {
		return 0, err
	}
	if _, err := d.Write(w.buf); err != nil {
		return 0, err
	}
	start := time.Now()
	err = d.Close()
	return time.Since(start), err
}

func (w *smtpWorker) fail(kind string, err error) {
	w.failures[kind]++
	if _, ok := w.examples[kind]; !ok {
		w.examples[kind] = err.Error()
	}
}

// quit ends the connection politely, if there is one.
func (w *smtpWorker) quit() {
	if w.c == nil {
		return
	}
	if w.c.Quit() != nil {
		w.c.Close()
	}
	w.c = nil
}

// drop closes the connection without QUIT.
func (w *smtpWorker) drop() {
	w.c.Close()
	w.c = nil
}

func printSMTPSummary(out io.Writer, l *smtpLoad, size int, r *smtpResult) {
	fmt.Fprintf(out, "smtp %s: %d messages of %d bytes to %d recipients over %d connections, reuse=%t rset=%t\n",
		l.Addr, l.N, size, len(l.Rcpts), l.Conns, l.Reuse, l.RSET && l.Reuse)
	fmt.Fprintf(out, "  delivered  %d  failed %d", r.Delivered, r.Failed())
	if r.Attempted < l.N {
		fmt.Fprintf(out, "  not attempted %d (interrupted)", l.N-r.Attempted)
	}
	fmt.Fprintln(out)
	for _, k := range slices.Sorted(maps.Keys(r.Failures)) {
		fmt.Fprintf(out, "    %-8s %d  first: %s\n", k, r.Failures[k], oneLine(r.Examples[k]))
	}
	fmt.Fprintf(out, "  wall       %.3f s  %.1f msg/s\n", r.Wall.Seconds(), r.PerSecond())
	fmt.Fprintf(out, "  DATA end → 250: %s\n", r.Latency)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// smtpJSON is the --json line.
type smtpJSON struct {
	Mode        string         `json:"mode"`
	Addr        string         `json:"addr"`
	Messages    int            `json:"messages"`
	Size        int            `json:"size"`
	Concurrency int            `json:"concurrency"`
	Reuse       bool           `json:"reuse"`
	RSET        bool           `json:"rset"`
	Recipients  int            `json:"recipients"`
	Attempted   int            `json:"attempted"`
	Delivered   int            `json:"delivered"`
	Failed      int            `json:"failed"`
	Failures    map[string]int `json:"failures,omitempty"`
	WallS       float64        `json:"wall_s"`
	MsgPerS     float64        `json:"msg_per_s"`
	P50MS       float64        `json:"p50_ms"`
	P90MS       float64        `json:"p90_ms"`
	P99MS       float64        `json:"p99_ms"`
	MaxMS       float64        `json:"max_ms"`
	MeanMS      float64        `json:"mean_ms"`
	Verified    *bool          `json:"verified,omitempty"`
	VerifyError string         `json:"verify_error,omitempty"`
	// With a successful verification: how long after the last 250 the
	// mailboxes showed every message, and the delivered messages per
	// second of wall time plus that wait.
	ConfirmedAfterS float64 `json:"confirmed_after_s,omitempty"`
	EndToEndPerS    float64 `json:"end_to_end_msg_per_s,omitempty"`
}

// endToEndRate is delivered messages per second from the first connect
// until the mailboxes showed them all: for a server that answers 250
// before delivering, the rate its mailboxes can sustain.
func endToEndRate(r *smtpResult, v verifyResult) float64 {
	d := r.Wall + v.Waited
	if d <= 0 {
		return 0
	}
	return float64(r.Delivered) / d.Seconds()
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func smtpJSONLine(l *smtpLoad, size int, r *smtpResult) smtpJSON {
	return smtpJSON{
		Mode:        "smtp",
		Addr:        l.Addr,
		Messages:    l.N,
		Size:        size,
		Concurrency: l.Conns,
		Reuse:       l.Reuse,
		RSET:        l.RSET && l.Reuse,
		Recipients:  len(l.Rcpts),
		Attempted:   r.Attempted,
		Delivered:   r.Delivered,
		Failed:      r.Failed(),
		Failures:    r.Failures,
		WallS:       round3(r.Wall.Seconds()),
		MsgPerS:     round1(r.PerSecond()),
		P50MS:       ms(r.Latency.P50),
		P90MS:       ms(r.Latency.P90),
		P99MS:       ms(r.Latency.P99),
		MaxMS:       ms(r.Latency.Max),
		MeanMS:      ms(r.Latency.Mean),
	}
}
