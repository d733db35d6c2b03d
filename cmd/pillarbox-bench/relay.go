package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// cmdRelay is the relay mode: log in to the submission port, send N
// messages to remote recipients over C connections, and receive them
// again on a sink this command runs on loopback, which the server under
// test must use as its smarthost ([relay] smarthost). It reports the
// submission rate, the end-to-end rate (first submission to the last
// message at the sink) and the latency from each 250 to its arrival.
func cmdRelay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:2587", "submission server `host:port` (loopback only)")
	user := fs.String("user", "", "account to log in as (AUTH PLAIN; plaintext is fine on loopback)")
	pass := fs.String("pass", "", "its password")
	from := fs.String("from", "", "envelope sender and From address; default --user")
	sinkAddr := fs.String("sink", "127.0.0.1:2626", "`host:port` to receive the relayed mail on (loopback only); the server's smarthost")
	n := fs.Int("n", 1000, "number of messages to send")
	conns := fs.Int("c", 4, "number of concurrent submission connections")
	size := fs.Int("size", 10240, "size of each message in `bytes`, headers included")
	to := fs.String("to", "rcpt%d@relay-bench.test", "remote recipient; %d is replaced by 1..users, round-robin")
	users := fs.Int("users", 100, "number of recipients when --to contains %d")
	timeout := fs.Duration("timeout", time.Minute, "limit for each connect, command and reply")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait after the last submission for the sink to get every message")
	asJSON := fs.Bool("json", false, "print the result as one JSON line on stdout (the summary goes to stderr)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case *user == "" || *pass == "":
		return errors.New("relay: --user and --pass are required")
	case *n < 1:
		return errors.New("relay: -n must be at least 1")
	case *conns < 1:
		return errors.New("relay: -c must be at least 1")
	}
	if *from == "" {
		*from = *user
	}
	for name, a := range map[string]string{"addr": *addr, "sink": *sinkAddr} {
		if err := checkLoopback(name, a); err != nil {
			return err
		}
	}
	rcpts, err := recipients(*to, *users)
	if err != nil {
		return err
	}

	l := &relayLoad{Addr: *addr, User: *user, Pass: *pass, From: *from, Rcpts: rcpts, N: *n, Conns: min(*conns, *n),
		Timeout: *timeout, Gen: newMessageGen(*from, *size)}
	sink, err := startBenchSink(*sinkAddr, l.Gen.run, *n)
	if err != nil {
		return err
	}
	defer sink.close()
	res := l.run(ctx, sink, *wait)

	human := stdout
	if *asJSON {
		human = stderr
	}
	fmt.Fprintf(human, "relay %s → sink %s: %d messages of %d bytes to %d recipients over %d connections\n",
		l.Addr, *sinkAddr, l.N, *size, len(rcpts), l.Conns)
	fmt.Fprintf(human, "  submitted  %d  failed %d", res.Submitted, res.Failed)
	if res.FirstError != "" {
		fmt.Fprintf(human, "  first error: %s", oneLine(res.FirstError))
	}
	fmt.Fprintf(human, "\n  submission %.3f s  %.1f msg/s\n", res.SubmitWall.Seconds(), rate(res.Submitted, res.SubmitWall))
	fmt.Fprintf(human, "  relayed    %d of %d  duplicates %d\n", res.Relayed, res.Submitted, res.Duplicates)
	fmt.Fprintf(human, "  end to end %.3f s  %.1f msg/s at the sink\n", res.EndToEnd.Seconds(), rate(res.Relayed, res.EndToEnd))
	fmt.Fprintf(human, "  250 → sink: %s\n", res.Latency)
	if *asJSON {
		b, err := json.Marshal(map[string]any{
			"mode": "relay", "messages": l.N, "size": *size, "concurrency": l.Conns, "recipients": len(rcpts),
			"submitted": res.Submitted, "failed": res.Failed, "relayed": res.Relayed, "duplicates": res.Duplicates,
			"submit_s": round3(res.SubmitWall.Seconds()), "submit_msg_per_s": round1(rate(res.Submitted, res.SubmitWall)),
			"end_to_end_s": round3(res.EndToEnd.Seconds()), "end_to_end_msg_per_s": round1(rate(res.Relayed, res.EndToEnd)),
			"p50_ms": ms(res.Latency.P50), "p90_ms": ms(res.Latency.P90), "p99_ms": ms(res.Latency.P99), "max_ms": ms(res.Latency.Max),
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	}
	var errs []error
	if res.Failed > 0 {
		errs = append(errs, fmt.Errorf("relay: %d of %d submissions failed", res.Failed, l.N))
	}
	if res.Relayed < res.Submitted {
		errs = append(errs, fmt.Errorf("relay: only %d of %d submitted messages reached the sink within %v", res.Relayed, res.Submitted, *wait))
	}
	if ctx.Err() != nil {
		errs = append(errs, errors.New("relay: interrupted"))
	}
	return errors.Join(errs...)
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// relayLoad is one run of the relay mode.
type relayLoad struct {
	Addr, User, Pass, From string
	Rcpts                  []string
	N, Conns               int
	Timeout                time.Duration
	Gen                    *messageGen
}

type relayResult struct {
	Submitted, Failed, Relayed, Duplicates int
	FirstError                             string
	SubmitWall, EndToEnd                   time.Duration
	Latency                                latencySummary // 250 to arrival at the sink
}

func (l *relayLoad) run(ctx context.Context, sink *benchSink, wait time.Duration) relayResult {
	accepted := make([]time.Time, l.N) // when message i got its 250; zero if it failed
	var next atomic.Int64
	var mu sync.Mutex
	var res relayResult
	start := time.Now()
	var wg sync.WaitGroup
	for range l.Conns {
		wg.Go(func() {
			var c *gosmtp.Client
			var buf []byte
			defer func() {
				if c != nil {
					c.Quit()
				}
			}()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= l.N {
					return
				}
				var err error
				if c == nil {
					c, err = l.connect(ctx)
				}
				if err == nil {
					to := l.Rcpts[i%len(l.Rcpts)]
					buf = l.Gen.appendMessage(buf[:0], int64(i), to, time.Now())
					err = c.SendMail(l.From, []string{to}, bytes.NewReader(buf))
				}
				mu.Lock()
				if err != nil {
					res.Failed++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
					var se *gosmtp.SMTPError
					if c != nil && (!errors.As(err, &se) || c.Reset() != nil) {
						c.Close()
						c = nil
					}
				} else {
					res.Submitted++
					accepted[i] = time.Now()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.SubmitWall = time.Since(start)

	arrivals := sink.waitFor(ctx, res.Submitted, wait)
	var lat []time.Duration
	var last time.Time
	for i, at := range arrivals {
		if at.IsZero() || accepted[i].IsZero() {
			continue
		}
		res.Relayed++
		lat = append(lat, at.Sub(accepted[i]))
		if at.After(last) {
			last = at
		}
	}
	res.Duplicates = sink.duplicates()
	if res.Relayed > 0 {
		res.EndToEnd = last.Sub(start)
	}
	res.Latency = summarize(lat)
	return res
}

func (l *relayLoad) connect(ctx context.Context) (*gosmtp.Client, error) {
	conn, err := loopbackDialer(l.Timeout).DialContext(ctx, "tcp", l.Addr)
	if err != nil {
		return nil, err
	}
	c := gosmtp.NewClient(conn)
	c.CommandTimeout = l.Timeout
	c.SubmissionTimeout = l.Timeout
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.Auth(sasl.NewPlainClient("", l.User, l.Pass)); err != nil {
		c.Close()
		return nil, fmt.Errorf("AUTH: %w", err)
	}
	return c, nil
}

// benchSink receives the relayed messages and notes when each arrived,
// recognising them by the Message-ID the generator gave them.
type benchSink struct {
	srv  *gosmtp.Server
	re   *regexp.Regexp
	addr string // where it listens, the port chosen when asked for 0

	mu       sync.Mutex
	arrivals []time.Time
	count    int
	dups     int
	conns    int // open now
	peak     int // open at once, at most
	sessions int // connections in all
	changed  chan struct{}
}

func startBenchSink(addr, run string, n int) (*benchSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay: sink: %w", err)
	}
	s := &benchSink{re: regexp.MustCompile(`(?m)^Message-ID: <` + regexp.QuoteMeta(run) + `\.(\d+)@`),
		arrivals: make([]time.Time, n), changed: make(chan struct{}, 1), addr: ln.Addr().String()}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s.mu.Lock()
		s.conns++
		s.sessions++
		s.peak = max(s.peak, s.conns)
		s.mu.Unlock()
		ss := &benchSinkSession{s: s}
		if qc, ok := c.Conn().(*quitConn); ok {
			qc.quit = ss.end
		}
		return ss, nil
	}))
	s.srv.Domain = "sink.relay-bench.test"
	s.srv.ErrorLog = nopLog{}
	go s.srv.Serve(quitListener{ln})
	return s, nil
}

// quitListener hands out quitConns. go-smtp answers QUIT with 221 before
// it ends the session, so the relay can open its next connection before
// the sink counts this one closed: the sink counts it closed as soon as
// QUIT arrives.
type quitListener struct{ net.Listener }

func (l quitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &quitConn{Conn: c}, nil
}

// quitConn calls quit when the client's QUIT command arrives. The relay
// writes each command on its own, so QUIT comes as a read of its own.
type quitConn struct {
	net.Conn
	quit func() // set before the session reads; called on the session's goroutine
}

func (c *quitConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.quit != nil && strings.EqualFold(string(p[:n]), "QUIT\r\n") {
		c.quit()
	}
	return n, err
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}

func (s *benchSink) close() { s.srv.Close() }

func (s *benchSink) arrived(data []byte) {
	now := time.Now()
	m := s.re.FindSubmatch(data)
	if m == nil {
		return // not ours (a bounce, say)
	}
	i, err := strconv.Atoi(string(m[1]))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || i < 1 || i > len(s.arrivals) {
		return
	}
	if !s.arrivals[i-1].IsZero() {
		s.dups++
		return
	}
	s.arrivals[i-1] = now
	s.count++
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until want messages arrived or wait passed, and returns
// the arrival times by message index.
func (s *benchSink) waitFor(ctx context.Context, want int, wait time.Duration) []time.Time {
	deadline := time.After(wait)
	for {
		s.mu.Lock()
		done := s.count >= want
		s.mu.Unlock()
		if done {
			break
		}
		select {
		case <-s.changed:
			continue
		case <-deadline:
		case <-ctx.Done():
		}
		break
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.arrivals...)
}

func (s *benchSink) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}

// delivered is the number of distinct messages that arrived so far.
func (s *benchSink) delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// maxConns is the largest number of connections that were open at once.
func (s *benchSink) maxConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// connections is the number of connections the sink has had.
func (s *benchSink) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

type benchSinkSession struct {
	s      *benchSink
	closed bool
}

func (*benchSinkSession) Reset() {}

// Logout ends the connection (go-smtp calls it once per session).
func (ss *benchSinkSession) Logout() error {
	ss.end()
	return nil
}

// end counts the connection closed, once: at QUIT or at Logout.
func (ss *benchSinkSession) end() {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if !ss.closed {
		ss.closed = true
		ss.s.conns--
	}
}

func (*benchSinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (*benchSinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (ss *benchSinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.arrived(b)
	return nil
}
