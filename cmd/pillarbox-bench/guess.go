package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// cmdGuess is the guess mode: C connections guess wrong passwords for one
// account as fast as the server answers, from one loopback address or
// from S of them (127.0.0.1 and up), and the mode reports how many
// guesses the server checked and how many it refused without a check:
// what a password-guessing attacker gets out of the login throttle.
func cmdGuess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("guess", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:2143", "server `host:port` (IPv4 loopback)")
	proto := fs.String("proto", "imap", "protocol: imap (LOGIN) or submission (AUTH PLAIN)")
	user := fs.String("user", "", "account whose password is guessed")
	conns := fs.Int("c", 1, "number of concurrent connections")
	duration := fs.Duration("duration", 10*time.Second, "length of the run")
	sources := fs.Int("sources", 1, "number of source addresses 127.0.0.1 and up, taken by the connections in turn")
	reuse := fs.Bool("reuse", true, "guess again on the same connection; false: a new connection per guess")
	timeout := fs.Duration("timeout", time.Minute, "limit for each connect")
	asJSON := fs.Bool("json", false, "print the result as one JSON line on stdout (the summary goes to stderr)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case *user == "":
		return errors.New("guess: --user is required")
	case *proto != "imap" && *proto != "submission":
		return fmt.Errorf("guess: --proto %q: want imap or submission", *proto)
	case *conns < 1:
		return errors.New("guess: -c must be at least 1")
	case *duration <= 0:
		return errors.New("guess: --duration must be positive")
	case *sources < 1 || *sources > 254:
		return errors.New("guess: --sources must be between 1 and 254")
	}
	if err := checkLoopback("addr", *addr); err != nil {
		return err
	}
	if *sources > 1 {
		host, _, _ := net.SplitHostPort(*addr)
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is4() {
			return fmt.Errorf("guess: --sources needs an IPv4 --addr, not %s", *addr)
		}
	}
	g := &guesser{Addr: *addr, Proto: *proto, User: *user, Conns: *conns, Sources: *sources, Reuse: *reuse, Timeout: *timeout}
	res := g.run(ctx, *duration)

	human := stdout
	if *asJSON {
		human = stderr
	}
	fmt.Fprintf(human, "guess %s %s user %s: %d connections from %d source address(es) for %.3f s\n",
		g.Proto, g.Addr, g.User, g.Conns, g.Sources, res.Wall.Seconds())
	fmt.Fprintf(human, "  checked  %6d guesses  %9.2f/s  answers %s\n", res.Checked, res.rate(res.Checked), summarize(res.checkedLat))
	fmt.Fprintf(human, "  refused  %6d without a check  %9.2f/s  answers %s\n", res.Refused, res.rate(res.Refused), summarize(res.refusedLat))
	fmt.Fprintf(human, "  accepted %d, errors %d\n", res.Accepted, res.Errors)
	if res.FirstErr != nil {
		fmt.Fprintf(human, "  first error: %v\n", res.FirstErr)
	}
	if *asJSON {
		line, err := json.Marshal(guessJSON{Mode: "guess", Proto: g.Proto, Conns: g.Conns, Sources: g.Sources,
			DurationS: round3(res.Wall.Seconds()), Checked: res.Checked, CheckedPerS: round3(res.rate(res.Checked)),
			Refused: res.Refused, RefusedPerS: round3(res.rate(res.Refused)), Accepted: res.Accepted, Errors: res.Errors})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", line)
	}
	return nil
}

type guessJSON struct {
	Mode        string  `json:"mode"`
	Proto       string  `json:"proto"`
	Conns       int     `json:"conns"`
	Sources     int     `json:"sources"`
	DurationS   float64 `json:"duration_s"`
	Checked     int     `json:"checked"`
	CheckedPerS float64 `json:"checked_per_s"`
	Refused     int     `json:"refused"`
	RefusedPerS float64 `json:"refused_per_s"`
	Accepted    int     `json:"accepted"`
	Errors      int     `json:"errors"`
}

// guesser is one run of the guess mode.
type guesser struct {
	Addr, Proto, User string
	Conns, Sources    int
	Reuse             bool
	Timeout           time.Duration
}

// guessResult counts the answers that came within the run.
type guessResult struct {
	Wall                       time.Duration
	Checked, Refused, Accepted int // wrong password; temporary refusal; logged in
	Errors                     int
	FirstErr                   error
	checkedLat, refusedLat     []time.Duration
	mu                         sync.Mutex
}

func (r *guessResult) rate(n int) float64 { return float64(n) / r.Wall.Seconds() }

// outcome is how the server answered a guess.
type outcome int

const (
	outChecked  outcome = iota // the password was checked and is wrong
	outRefused                 // refused for now, the password not checked
	outAccepted                // logged in
)

// guessConn is one connection that can guess repeatedly.
type guessConn interface {
	guess(user, pass string) (outcome, error)
	Close() error
}

func (g *guesser) run(ctx context.Context, d time.Duration) *guessResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	res := &guessResult{}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range g.Conns {
		wg.Go(func() { g.worker(ctx, i, res) })
	}
	wg.Wait()
	res.Wall = min(time.Since(start), d)
	return res
}

// worker guesses on one connection at a time until ctx ends; the end of
// ctx closes the connection, so that a held-back guess ends with it.
func (g *guesser) worker(ctx context.Context, i int, res *guessResult) {
	var c guessConn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for n := 0; ctx.Err() == nil; n++ {
		if c == nil {
			var err error
			if c, err = g.dial(ctx, i); err != nil {
				g.record(ctx, res, 0, 0, err)
				select { // a server that is down is not hammered
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
		}
		t0 := time.Now()
		out, err := c.guess(g.User, fmt.Sprintf("guess-%d-%d", i, n))
		g.record(ctx, res, out, time.Since(t0), err)
		if err != nil || out == outAccepted || !g.Reuse {
			c.Close()
			c = nil
		}
	}
}

func (g *guesser) record(ctx context.Context, res *guessResult, out outcome, lat time.Duration, err error) {
	if deadline, ok := ctx.Deadline(); ctx.Err() != nil || ok && !time.Now().Before(deadline) {
		// Cut off by the end of the run: a dial's own deadline, taken
		// from ctx, may fire before ctx reports it.
		return
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	switch {
	case err != nil:
		res.Errors++
		if res.FirstErr == nil {
			res.FirstErr = err
		}
	case out == outChecked:
		res.Checked++
		res.checkedLat = append(res.checkedLat, lat)
	case out == outRefused:
		res.Refused++
		res.refusedLat = append(res.refusedLat, lat)
	case out == outAccepted:
		res.Accepted++
	}
}

// dial connects connection i from its source address.
func (g *guesser) dial(ctx context.Context, i int) (guessConn, error) {
	d := loopbackDialer(g.Timeout)
	if g.Sources > 1 {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%g.Sources))}
	}
	conn, err := d.DialContext(ctx, "tcp", g.Addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	var c guessConn
	if g.Proto == "imap" {
		c = &imapGuess{c: imapclient.New(conn, nil), stop: stop}
	} else {
		sc := gosmtp.NewClient(conn)
		if err := sc.Hello("bench.localhost"); err != nil {
			stop()
			sc.Close()
			return nil, err
		}
		c = &smtpGuess{c: sc, stop: stop}
	}
	return c, nil
}

type imapGuess struct {
	c    *imapclient.Client
	stop func() bool
}

// guess sends LOGIN: NO [AUTHENTICATIONFAILED] is a checked guess, NO
// [UNAVAILABLE] a refusal (RFC 5530).
func (g *imapGuess) guess(user, pass string) (outcome, error) {
	err := g.c.Login(user, pass).Wait()
	var ie *imap.Error
	switch {
	case err == nil:
		return outAccepted, nil
	case errors.As(err, &ie) && ie.Code == imap.ResponseCodeAuthenticationFailed:
		return outChecked, nil
	case errors.As(err, &ie) && ie.Code == imap.ResponseCodeUnavailable:
		return outRefused, nil
	}
	return 0, err
}

func (g *imapGuess) Close() error { g.stop(); return g.c.Close() }

type smtpGuess struct {
	c    *gosmtp.Client
	stop func() bool
}

// guess sends AUTH PLAIN: 535 is a checked guess, 454 a refusal
// (RFC 4954 section 6).
func (g *smtpGuess) guess(user, pass string) (outcome, error) {
	err := g.c.Auth(sasl.NewPlainClient("", user, pass))
	var se *gosmtp.SMTPError
	switch {
	case err == nil:
		return outAccepted, nil
	case errors.As(err, &se) && se.Code == 535:
		return outChecked, nil
	case errors.As(err, &se) && se.Code == 454:
		return outRefused, nil
	}
	return 0, err
}

func (g *smtpGuess) Close() error { g.stop(); return g.c.Close() }
