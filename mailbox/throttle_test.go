package mailbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestThrottleSpacing(t *testing.T) {
	t.Parallel()
	o := ThrottleOptions{Budget: 5, Base: time.Second, Max: time.Minute}
	for _, c := range []struct {
		score float64
		want  time.Duration
	}{
		{0, 0},
		{4.4, 0},
		{4.6, time.Second}, // a fifth failure a little decayed
		{5, time.Second},
		{6, 2 * time.Second},
		{7.4, 4 * time.Second},
		{10, 32 * time.Second},
		{11, time.Minute}, // 64 s, capped
		{1e6, time.Minute},
	} {
		if got := o.spacing(c.score); got != c.want {
			t.Errorf("spacing(%v) = %v, want %v", c.score, got, c.want)
		}
	}
}

func TestThrottleKeys(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ a, b string }{
		{"192.0.2.1", "::ffff:192.0.2.1"},
		{"2001:db8::1", "2001:db8::ffff:2"}, // one /64
		{"2001:db8::1", "2001:db8::1%eth0"},
	} {
		if ka, kb := throttleAddr(c.a), throttleAddr(c.b); ka != kb {
			t.Errorf("%s and %s: keys %q and %q, want one", c.a, c.b, ka, kb)
		}
	}
	if throttleAddr("2001:db8::1") == throttleAddr("2001:db8:0:1::1") {
		t.Error("two /64s share a key")
	}
	if a, b := throttleAccount("Alice@Example.ORG"), throttleAccount(" alice@example.org"); a != b {
		t.Errorf("account keys %q and %q, want one", a, b)
	}
	if k := throttleAccount(string(make([]byte, 10000))); len(k) > maxAddressLen {
		t.Errorf("key of a long name is %d bytes", len(k))
	}
}

// fakeClock drives a Throttle in one goroutine: Sleep moves the clock.
type fakeClock struct {
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) throttle(o ThrottleOptions) *Throttle {
	o.Now = func() time.Time { return c.now }
	o.Sleep = func(_ context.Context, d time.Duration) error {
		c.slept = append(c.slept, d)
		c.now = c.now.Add(d)
		return nil
	}
	return NewThrottle(o)
}

// try makes one attempt and ends it as a success or a failure. It returns
// how long the attempt waited, or ErrThrottled.
func try(t *testing.T, th *Throttle, addr, user string, ok bool) (time.Duration, error) {
	t.Helper()
	l, err := th.Begin(context.Background(), addr, user)
	if err != nil {
		return 0, err
	}
	if ok {
		l.Succeed()
	} else {
		l.Fail()
	}
	return l.Waited, nil
}

// failUntilRefused fails from addr on user, waiting as told, until an
// attempt is refused; it returns the number of failures.
func failUntilRefused(t *testing.T, th *Throttle, addr, user string) int {
	t.Helper()
	for n := 0; n < 1000; n++ {
		if _, err := try(t, th, addr, user, false); errors.Is(err, ErrThrottled) {
			return n
		} else if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("never refused")
	return 0
}

// simulateGuessing runs one goroutine per entry of addrs (entries may
// repeat: parallel connections from one address) that guess wrong
// passwords for user until d has passed on synctest's clock. A refused
// attempt is retried after retry; a check takes 50 ms, as bcrypt does.
// It returns the times of the password checks since the start.
func simulateGuessing(t *testing.T, o ThrottleOptions, addrs []string, user string, d, retry time.Duration) []time.Duration {
	var checks []time.Duration
	synctest.Test(t, func(t *testing.T) {
		th := NewThrottle(o)
		start := time.Now()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, addr := range addrs {
			wg.Go(func() {
				for time.Since(start) < d {
					l, err := th.Begin(context.Background(), addr, user)
					if errors.Is(err, ErrThrottled) {
						time.Sleep(retry)
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					if at := time.Since(start); at < d {
						mu.Lock()
						checks = append(checks, at)
						mu.Unlock()
					}
					time.Sleep(50 * time.Millisecond)
					l.Fail()
				}
			})
		}
		wg.Wait()
	})
	return checks
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// Parallel connections from one address get no more guesses than one
// connection: the old throttle delayed each connection's own answers, so
// N connections made N times the guesses.
func TestThrottleParallelAttemptsSerialized(t *testing.T) {
	t.Parallel()
	o := ThrottleOptions{}
	const d = 2 * time.Minute
	var one int
	for _, conns := range []int{1, 20, 100} {
		checks := simulateGuessing(t, o, repeat("192.0.2.7", conns), "victim@example.org", d, 50*time.Millisecond)
		perSecond := map[int]int{}
		for _, at := range checks {
			perSecond[int(at/time.Second)]++
		}
		for s, n := range perSecond {
			if s >= 1 && n > 1 {
				t.Errorf("%d connections: %d checks in second %d, want at most 1 past the budget", conns, n, s)
			}
		}
		if perSecond[0] > 5 {
			t.Errorf("%d connections: %d checks in the first second, want the budget of 5", conns, perSecond[0])
		}
		if conns == 1 {
			one = len(checks)
		} else if len(checks) > one+1 {
			t.Errorf("%d connections: %d checks in %v, one connection %d", conns, len(checks), d, one)
		}
		t.Logf("%3d connections: %d password checks in %v", conns, len(checks), d)
	}
}

// Many addresses guessing one account get about one guess each and then
// share the account's schedule, rather than a budget each.
func TestThrottleManyAddressesOneAccount(t *testing.T) {
	t.Parallel()
	o := ThrottleOptions{Budget: 5, Max: time.Minute}
	const addrs, d = 100, 10 * time.Minute
	var list []string
	for i := range addrs {
		list = append(list, fmt.Sprintf("198.51.100.%d", i))
	}
	checks := simulateGuessing(t, o, list, "victim@example.org", d, time.Second)
	// One each while their (account, address) pairs are clean, and one
	// per Max on the account's schedule after that; a budget each would
	// be 500.
	limit := addrs + int(d/o.Max) + 1
	if len(checks) > limit {
		t.Errorf("%d addresses made %d checks in %v, want at most %d", addrs, len(checks), d, limit)
	}
	t.Logf("%d addresses: %d password checks in %v", addrs, len(checks), d)
}

// A success on another account from the guessing address leaves the
// address throttled (the old throttle forgot the address).
func TestThrottleOtherAccountSuccessKeepsAddress(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	th := c.throttle(ThrottleOptions{})
	for range 8 {
		if _, err := try(t, th, "192.0.2.7", "victim@example.org", false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := try(t, th, "192.0.2.7", "mallory@example.org", true); err != nil {
		t.Fatal(err)
	}
	// The address is still past its budget: of two guesses, the second
	// waits for the schedule (or is refused).
	if _, err := try(t, th, "192.0.2.7", "victim@example.org", false); err != nil && !errors.Is(err, ErrThrottled) {
		t.Fatal(err)
	}
	w, err := try(t, th, "192.0.2.7", "victim@example.org", false)
	if err == nil && w == 0 {
		t.Fatalf("after another account's success: a guess passed at once; want a wait or a refusal")
	}
	if w, _ := try(t, th, "192.0.2.8", "victim@example.org", false); w != 0 {
		t.Errorf("a clean address waited %v", w)
	}
}

// The owner at an address that has not been failing logs in at once
// while other addresses guess the account's password, and so does a
// client of the owner's that logged in before, even when it opens several
// connections at once and someone behind the same address (a NAT)
// guesses other accounts.
func TestThrottleOwnerNotLockedOut(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	o := ThrottleOptions{Budget: 5}
	th := c.throttle(o)
	const victim, home = "victim@example.org", "203.0.113.5"
	if w, err := try(t, th, home, victim, true); w != 0 || err != nil {
		t.Fatalf("first login: %v, %v", w, err)
	}
	// Twenty addresses guess until refused; the account is then spaced.
	for i := range 20 {
		failUntilRefused(t, th, fmt.Sprintf("192.0.2.%d", i), victim)
	}
	failUntilRefused(t, th, home, "other@example.org")
	c.slept = nil

	if w, err := try(t, th, "198.51.100.1", victim, true); w != 0 || err != nil {
		t.Fatalf("owner from a clean address: waited %v, %v", w, err)
	}
	var open []*LoginAttempt
	for range o.Budget {
		l, err := th.Begin(context.Background(), home, victim)
		if err != nil || l.Waited != 0 {
			t.Fatalf("owner's client connection %d: %v", len(open), err)
		}
		open = append(open, l)
	}
	for _, l := range open {
		l.Succeed()
	}
	if len(c.slept) != 0 {
		t.Errorf("the owner waited %v", c.slept)
	}
	// The owner's logins freed no one: of two more guesses at the
	// account from guessing addresses, or at other accounts from the
	// owner's address, the second is refused.
	for _, g := range [][2][2]string{
		{{"192.0.2.3", victim}, {"192.0.2.4", victim}},
		{{home, "other@example.org"}, {home, "third@example.org"}},
	} {
		if _, err := try(t, th, g[0][0], g[0][1], false); err != nil && !errors.Is(err, ErrThrottled) {
			t.Fatal(err)
		}
		if _, err := try(t, th, g[1][0], g[1][1], false); !errors.Is(err, ErrThrottled) {
			t.Errorf("owner's logins freed %v: %v", g, err)
		}
	}
	// Guessing the owner's account from the owner's address gets no more
	// than the budget of the trusted pair.
	if n := failUntilRefused(t, th, home, victim); n > o.Budget {
		t.Errorf("%d guesses at the owner's account from the owner's address, want at most %d", n, o.Budget)
	}
}

// After a quiet period an address is forgotten and has its budget again;
// before it, the failures still count.
func TestThrottleDecay(t *testing.T) {
	t.Parallel()
	o := ThrottleOptions{Budget: 5, HalfLife: 10 * time.Minute}
	c := newFakeClock()
	th := c.throttle(o)
	n := failUntilRefused(t, th, "192.0.2.7", "victim@example.org")
	c.now = c.now.Add(o.HalfLife)
	try(t, th, "192.0.2.7", "victim@example.org", false)
	if w, err := try(t, th, "192.0.2.7", "victim@example.org", false); err == nil && w == 0 {
		t.Fatal("forgotten after one half-life")
	}
	// The score, at most n+2, falls below cleanScore.
	quiet := time.Duration(float64(o.HalfLife) * math.Log2(float64(n+2)/cleanScore))
	c.now = c.now.Add(quiet + time.Minute)
	c.slept = nil
	for i := range o.Budget {
		if _, err := try(t, th, "192.0.2.7", "victim@example.org", false); err != nil {
			t.Fatalf("attempt %d after %v quiet: %v", i, quiet, err)
		}
	}
	if len(c.slept) != 0 {
		t.Errorf("waited %v after %v quiet", c.slept, quiet)
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	if len(th.keys) != 3 {
		t.Errorf("%d keys tracked, want the 3 of the new attempts", len(th.keys))
	}
}

// Guesses on ever new names from ever new addresses do not grow memory
// past MaxKeys, and do not push out the address that has failed most.
func TestThrottleMemoryBounded(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	th := c.throttle(ThrottleOptions{MaxKeys: 100})
	failUntilRefused(t, th, "192.0.2.7", "victim@example.org")
	for i := range 5000 {
		if _, err := try(t, th, fmt.Sprintf("10.%d.%d.1", i/250, i%250), fmt.Sprintf("user%d@example.org", i), false); err != nil {
			t.Fatal(err)
		}
		th.mu.Lock()
		n := len(th.keys)
		th.mu.Unlock()
		if n > 100 {
			t.Fatalf("%d keys after %d attempts", n, i+1)
		}
	}
	if _, err := try(t, th, "192.0.2.7", "victim@example.org", false); !errors.Is(err, ErrThrottled) {
		t.Errorf("the guessing address was pushed out: %v", err)
	}
}

// A wait ends when its context does, and an attempt whose turn is
// further away than MaxWait is refused without waiting.
func TestThrottleWaitCancelled(t *testing.T) {
	t.Parallel()
	for _, maxWait := range []time.Duration{90 * time.Minute, 30 * time.Minute} {
		th := NewThrottle(ThrottleOptions{Budget: 1, Base: time.Hour, Max: time.Hour, MaxWait: maxWait})
		l, err := th.Begin(context.Background(), "192.0.2.7", "u@example.org")
		if err != nil {
			t.Fatal(err)
		}
		l.Fail() // the next attempt is an hour away
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = th.Begin(ctx, "192.0.2.7", "u@example.org")
		if maxWait > time.Hour && !errors.Is(err, context.Canceled) {
			t.Fatalf("MaxWait %v: Begin with a cancelled context: %v", maxWait, err)
		}
		if maxWait < time.Hour && !errors.Is(err, ErrThrottled) {
			t.Fatalf("MaxWait %v: %v, want ErrThrottled at once", maxWait, err)
		}
	}
}

// Many correct logins at once from one address (an office behind one
// NAT at nine o'clock, mail apps that open several connections) all
// succeed, as fast as their passwords are checked. The first version of
// this throttle counted attempts in flight as failures and pushed the
// address's next slot for each, so such a burst was refused
// ("NO [UNAVAILABLE]") until the address's schedule ran out, as Dovecot's
// imaptest showed with ten clients of one user.
func TestThrottleBurstOfSuccessesPasses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		th := NewThrottle(ThrottleOptions{})
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		refused := 0
		for i := range 100 {
			wg.Go(func() {
				// Twenty users, five connections each, none trusted yet.
				l, err := th.Begin(context.Background(), "203.0.113.5", fmt.Sprintf("user%d@example.org", i%20))
				if err != nil {
					mu.Lock()
					refused++
					mu.Unlock()
					return
				}
				time.Sleep(50 * time.Millisecond) // the bcrypt check
				l.Succeed()
			})
		}
		wg.Wait()
		if refused != 0 {
			t.Fatalf("%d of 100 correct logins refused", refused)
		}
		// Five at a time (the budget) while none has failed.
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("100 correct logins took %v", d)
		}
	})
}

// An abandoned attempt (the store failed) costs nothing.
func TestThrottleAbandon(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	th := c.throttle(ThrottleOptions{Budget: 2})
	for range 10 {
		l, err := th.Begin(context.Background(), "192.0.2.7", "u@example.org")
		if err != nil {
			t.Fatal(err)
		}
		l.Abandon()
		l.Succeed() // no effect after Abandon
	}
	if len(c.slept) != 0 {
		t.Errorf("abandoned attempts made later ones wait %v", c.slept)
	}
}

// Refusals are cheap for an attacker: at most one a second per address
// is worth a log line, which counts the ones it stands for.
func TestThrottleRefusalLogLines(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	th := c.throttle(ThrottleOptions{})
	failUntilRefused(t, th, "192.0.2.7", "victim@example.org")
	refuse := func() *ThrottledError {
		t.Helper()
		_, err := th.Begin(context.Background(), "192.0.2.7", "victim@example.org")
		var te *ThrottledError
		if !errors.As(err, &te) || !errors.Is(err, ErrThrottled) {
			t.Fatalf("got %v, want a refusal", err)
		}
		return te
	}
	for i := range 10 {
		if te := refuse(); te.Log != false {
			t.Fatalf("refusal %d in the same second: %+v, want no line", i+2, te)
		}
	}
	c.now = c.now.Add(time.Second)
	if te := refuse(); !te.Log || te.Unlogged != 11 {
		t.Errorf("a second later: %+v, want a line for 11 refusals", te)
	}
}
