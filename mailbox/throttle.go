package mailbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"pillarbox/mailbox/netlimit"
)

// ErrThrottled refuses a login attempt without checking its password:
// its address or account has failed so often that its turn is too far
// away. It is temporary; the protocols answer it as such. Begin returns
// it as a *ThrottledError.
var ErrThrottled = errors.New("mailbox: too many failed logins, try again later")

// ThrottledError is Begin's refusal; errors.Is(err, ErrThrottled) holds.
// Refusals cost an attacker next to nothing, so that one line for each
// could fill the log: Log says whether this one is worth a line (the
// first from its address in a second), and Unlogged how many refusals of
// the address that line stands for.
type ThrottledError struct {
	Log      bool
	Unlogged int
}

func (e *ThrottledError) Error() string        { return ErrThrottled.Error() }
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// refusalLogGap is the least time between two logged refusals of one
// address.
const refusalLogGap = time.Second

// ThrottleOptions configures NewThrottle. Zero values are documented per
// field.
type ThrottleOptions struct {
	// Budget is how many failures a key (a client address or an account)
	// may collect before its attempts are spaced out. Zero: 5.
	Budget int
	// Base is the spacing between attempts once the budget is spent; it
	// doubles with each further failure. Zero: 1 s.
	Base time.Duration
	// Max bounds the spacing. Zero: 1 min.
	Max time.Duration
	// MaxWait is the longest an attempt is held back before its password
	// is checked; an attempt whose turn is further away is refused at once
	// with ErrThrottled. Zero: 30 s.
	MaxWait time.Duration
	// HalfLife is how fast failures are forgotten: a failure counts half
	// as much after it. Zero: 10 min.
	HalfLife time.Duration
	// Trust is how long a successful login from an address vouches for
	// that address's later attempts on the same account, so that they are
	// not held back while others guess the account's password. Zero: 7 days.
	Trust time.Duration
	// MaxKeys bounds the memory: the number of addresses, accounts and
	// (account, address) pairs tracked. Past it, forgotten keys are
	// dropped, then the least suspicious ones. Zero: 100000; at least 16.
	MaxKeys int
	// Now is the clock. Zero: time.Now.
	Now func() time.Time
	// Sleep waits for d, or until ctx ends and then returns its error. It
	// must agree with Now. Zero: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// cleanScore is the failure score below which an (account, address) pair
// counts as not failing: two half-lives after a single failure.
const cleanScore = 0.25

// Throttle limits password guessing, shared by every protocol that takes
// passwords. It gates an attempt before its password is checked, so that
// parallel connections cannot multiply the rate, on two keys:
//
//   - the client address (IPv6 grouped by /64): every attempt from it;
//   - the account name (normalised, unknown names too): attempts from an
//     address that has itself failed on that account recently, so that
//     many addresses together get no more guesses than one, while the
//     owner at an address that has not been failing logs in at once.
//
// Each key has a score of failed attempts that halves every HalfLife.
// While it is below Budget, attempts pass at once, as many at a time as
// the budget has failures left (so that parallel attempts cannot spend
// more than the budget before their failures are known; more wait for a
// turn). Past the budget, one attempt at a time passes, and each failure
// sets the earliest time of the next: Base after the failure that spends
// the budget, doubling with every further one up to Max. A success
// changes no score, so that another account's success from the same
// address leaves the address's failures in place; many successful logins
// at once from one address (an office behind one NAT, a mail app opening
// several connections) pass as fast as their passwords are checked.
//
// A success also makes its (account, address) pair trusted: while the
// pair has failed less than Budget times lately, its attempts pass both
// gates, so the owner's known devices are not locked out by someone who
// guesses from elsewhere or from behind the same address.
type Throttle struct {
	o ThrottleOptions

	mu      sync.Mutex
	keys    map[string]*throttleKey
	swept   time.Time     // last sweep of forgotten keys
	changed chan struct{} // closed and replaced when an attempt ends
}

// throttleKey is what is known about one address, account or pair.
type throttleKey struct {
	score    float64   // failures, decayed to at
	at       time.Time // when score was last decayed
	next     time.Time // past the budget: the earliest next attempt (addresses and accounts)
	inflight int       // attempts let through and not ended
	trusted  time.Time // the last success (pairs)

	refused int       // refusals not logged yet (addresses)
	logged  time.Time // the last logged refusal (addresses)
}

// NewThrottle returns an empty Throttle.
func NewThrottle(o ThrottleOptions) *Throttle {
	if o.Budget <= 0 {
		o.Budget = 5
	}
	if o.Base <= 0 {
		o.Base = time.Second
	}
	if o.Max <= 0 {
		o.Max = time.Minute
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Second
	}
	if o.HalfLife <= 0 {
		o.HalfLife = 10 * time.Minute
	}
	if o.Trust <= 0 {
		o.Trust = 7 * 24 * time.Hour
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 100_000
	}
	o.MaxKeys = max(o.MaxKeys, 16)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepContext
	}
	return &Throttle{o: o, keys: make(map[string]*throttleKey), changed: make(chan struct{})}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LoginAttempt is one attempt that Begin let through. The caller ends it
// with exactly one of Succeed, Fail or Abandon; later calls do nothing.
type LoginAttempt struct {
	t       *Throttle
	a, u, p *throttleKey // address, account, pair
	done    bool
	// Waited is how long Begin held the attempt back.
	Waited time.Duration
}

// Begin asks to check a password for username from the client address
// remote (an IP address without port). It waits for the attempt's turn,
// at most MaxWait, and returns ErrThrottled at once if the turn is
// further away, or ctx's error (wrapped) if ctx ends first.
func (t *Throttle) Begin(ctx context.Context, remote, username string) (*LoginAttempt, error) {
	addr, acct := throttleAddr(remote), throttleAccount(username)
	ka, ku, kp := "a "+addr, "u "+acct, "p "+addr+" "+acct
	var start time.Time
	for {
		t.mu.Lock()
		now := t.o.Now()
		if start.IsZero() {
			start = now
			t.sweepLocked(now)
		}
		a, u, p := t.getLocked(ka, now), t.getLocked(ku, now), t.getLocked(kp, now)
		until, ok := t.turn(a, u, p, now)
		if ok {
			l := &LoginAttempt{t: t, Waited: now.Sub(start)}
			l.a, l.u, l.p = t.enterLocked(ka, a, now), t.enterLocked(ku, u, now), t.enterLocked(kp, p, now)
			t.mu.Unlock()
			return l, nil
		}
		deadline := start.Add(t.o.MaxWait)
		if until.After(deadline) {
			err := t.refuseLocked(a, now)
			t.mu.Unlock()
			return nil, err
		}
		if until.IsZero() {
			until = deadline // a turn comes when an attempt in flight ends
		}
		changed := t.changed
		t.mu.Unlock()
		if err := t.wait(ctx, until.Sub(now), changed); err != nil {
			return nil, fmt.Errorf("mailbox: login throttle: %w", err)
		}
		if !t.o.Now().Before(deadline) {
			t.mu.Lock()
			a := t.getLocked(ka, t.o.Now())
			err := t.refuseLocked(a, t.o.Now())
			t.mu.Unlock()
			return nil, err
		}
	}
}

// turn decides whether an attempt with the keys' states a (address), u
// (account) and p (pair) may go now. If not, until is when it may, or
// zero if it waits for an attempt in flight to end.
func (t *Throttle) turn(a, u, p *throttleKey, now time.Time) (until time.Time, ok bool) {
	if t.vouched(p, now) {
		return time.Time{}, true
	}
	until, ok = t.keyTurn(a, now)
	if ok && p != nil && p.score >= cleanScore {
		// This address has failed on this account lately: the account's
		// schedule applies too.
		until, ok = t.keyTurn(u, now)
	}
	return until, ok
}

// keyTurn is turn for one key (nil: never seen, so free).
func (t *Throttle) keyTurn(k *throttleKey, now time.Time) (time.Time, bool) {
	if k == nil {
		return time.Time{}, true
	}
	// Scores are rounded, so that the little a score decays between
	// quick attempts does not buy one more (see spacing).
	if left := t.o.Budget - int(math.Round(k.score)); left > 0 {
		// Within the budget, as many at once as it has failures left.
		return time.Time{}, k.inflight < left
	}
	if now.Before(k.next) {
		return k.next, false
	}
	return time.Time{}, k.inflight == 0
}

// refuseLocked makes the refusal of an attempt from address a.
func (t *Throttle) refuseLocked(a *throttleKey, now time.Time) error {
	err := &ThrottledError{Log: true, Unlogged: 1}
	if a != nil {
		a.refused++
		if now.Sub(a.logged) < refusalLogGap {
			err.Log = false
		} else {
			err.Unlogged, a.refused, a.logged = a.refused, 0, now
		}
	}
	return err
}

// wait sleeps for d, or until an attempt ends (changed closes), or until
// ctx ends, which is the only error.
func (t *Throttle) wait(ctx context.Context, d time.Duration, changed <-chan struct{}) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-changed:
			cancel()
		case <-wctx.Done():
		}
	}()
	t.o.Sleep(wctx, d)
	return ctx.Err()
}

// enterLocked counts an attempt in flight on key (k is its state, nil if
// new) and returns the state.
func (t *Throttle) enterLocked(key string, k *throttleKey, now time.Time) *throttleKey {
	if k == nil {
		k = &throttleKey{at: now}
		t.keys[key] = k
	}
	k.inflight++
	return k
}

// Succeed records that the password was right: the pair is trusted.
func (l *LoginAttempt) Succeed() {
	l.end(func(now time.Time) { l.p.trusted = now })
}

// Fail records a wrong password (or an unknown user): every key's score
// goes up, and past the budget its next attempt is spaced.
func (l *LoginAttempt) Fail() {
	l.end(func(now time.Time) {
		t := l.t
		for _, k := range []*throttleKey{l.a, l.u, l.p} {
			t.decay(k, now)
			k.score++
			if int(math.Round(k.score)) >= t.o.Budget {
				k.next = later(k.next, now.Add(t.o.spacing(k.score)))
			}
		}
	})
}

// Abandon forgets the attempt: its password could not be checked (the
// account store failed).
func (l *LoginAttempt) Abandon() { l.end(func(time.Time) {}) }

func (l *LoginAttempt) end(f func(now time.Time)) {
	t := l.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.done {
		return
	}
	l.done = true
	for _, k := range []*throttleKey{l.a, l.u, l.p} {
		k.inflight--
	}
	f(t.o.Now())
	close(t.changed)
	t.changed = make(chan struct{})
}

// vouched reports whether the pair p logged in lately and has failed
// less than Budget times since.
func (t *Throttle) vouched(p *throttleKey, now time.Time) bool {
	return p != nil && !p.trusted.IsZero() && now.Sub(p.trusted) <= t.o.Trust && p.score < float64(t.o.Budget)
}

// spacing is the least time between the slots of a key whose score,
// this attempt included, is score: none within the budget, then Base
// doubling with each failure up to Max. The score is rounded, so that
// the little it decays between quick attempts does not buy one more.
func (o *ThrottleOptions) spacing(score float64) time.Duration {
	over := math.Round(score) - float64(o.Budget)
	if over < 0 {
		return 0
	}
	if over >= 62 {
		return o.Max
	}
	d := o.Base << int(over)
	if d <= 0 || d > o.Max {
		return o.Max
	}
	return d
}

// getLocked returns key's state decayed to now, nil if it is not tracked.
func (t *Throttle) getLocked(key string, now time.Time) *throttleKey {
	k := t.keys[key]
	if k != nil {
		t.decay(k, now)
	}
	return k
}

func (t *Throttle) decay(k *throttleKey, now time.Time) {
	if dt := now.Sub(k.at); dt > 0 {
		k.score *= math.Exp2(-float64(dt) / float64(t.o.HalfLife))
		k.at = now
	}
}

// sweepLocked drops forgotten keys every HalfLife, and when the map is
// full also the least suspicious keys, down to three quarters of
// MaxKeys, so that the work is amortised over many attempts.
func (t *Throttle) sweepLocked(now time.Time) {
	full := len(t.keys)+3 > t.o.MaxKeys
	if !full && now.Sub(t.swept) < t.o.HalfLife {
		return
	}
	t.swept = now
	for key, k := range t.keys {
		t.decay(k, now)
		if t.value(k, now) < cleanScore && !k.next.After(now) && k.inflight == 0 {
			delete(t.keys, key)
		}
	}
	target := t.o.MaxKeys * 3 / 4
	if !full || len(t.keys) <= target {
		return
	}
	type ranked struct {
		key   string
		value float64
	}
	all := make([]ranked, 0, len(t.keys))
	for key, k := range t.keys {
		all = append(all, ranked{key, t.value(k, now)})
	}
	slices.SortFunc(all, func(a, b ranked) int { return cmp.Compare(a.value, b.value) })
	for _, r := range all[:len(all)-target] {
		delete(t.keys, r.key)
	}
}

// value is how much a key is worth keeping: its failures, plus a budget's
// worth for a pair whose success still vouches for it.
func (t *Throttle) value(k *throttleKey, now time.Time) float64 {
	v := k.score + float64(k.inflight)
	if !k.trusted.IsZero() && now.Sub(k.trusted) <= t.o.Trust {
		v += float64(t.o.Budget)
	}
	return v
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// throttleAddr is the key of a client address: one client as the
// connection limits count it (netlimit.ClientPrefix).
func throttleAddr(remote string) string {
	ip, err := netip.ParseAddr(remote)
	if err != nil {
		return clipKey(remote)
	}
	p, ok := netlimit.ClientPrefix(ip)
	if !ok {
		return clipKey(remote)
	}
	return p.String()
}

// throttleAccount is the key of an account name: the normalised address
// as Authenticate looks it up, or for a name that is no address the name
// lower-cased and clipped, so that any spelling of one account shares its
// key and a long name costs little memory.
func throttleAccount(username string) string {
	if a, err := ParseAddress(username); err == nil {
		return a.String()
	}
	return clipKey(strings.ToLower(strings.TrimSpace(username)))
}

func clipKey(s string) string {
	if len(s) > maxAddressLen {
		s = strings.ToValidUTF8(s[:maxAddressLen], "")
	}
	return s
}

// LoginOutcome is how one login attempt ended, as the protocols tell it
// to their metrics hooks.
type LoginOutcome uint8

const (
	// LoginSucceeded: the password was right.
	LoginSucceeded LoginOutcome = iota
	// LoginFailed: unknown user or wrong password.
	LoginFailed
	// LoginThrottled: refused by the Throttle without checking the
	// password, after too many failures.
	LoginThrottled
	// LoginError: the check itself failed (the store, or the server
	// going down during the throttle's wait).
	LoginError
)
