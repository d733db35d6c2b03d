package mailbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
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
// Each key has a failure score that halves every HalfLife. While it is
// below Budget attempts pass freely; past it each attempt reserves the
// key's next slot, and the spacing to the slot after doubles with every
// failure up to Max. An attempt counts as a failure from the moment it is
// let through until it succeeds, so attempts in flight use up the budget
// too. A success forgives only its own attempt, so that another account's
// success from the same address leaves the address's failures in place.
//
// A success also makes its (account, address) pair trusted: while the
// pair has failed less than Budget times lately, its attempts pass both
// gates, so the owner's known devices are not locked out by someone who
// guesses from elsewhere or from behind the same address (a NAT).
type Throttle struct {
	o ThrottleOptions

	mu    sync.Mutex
	keys  map[string]*throttleKey
	swept time.Time // last sweep of forgotten keys
}

// throttleKey is what is known about one address, account or pair.
type throttleKey struct {
	score   float64   // failures, decayed to at
	at      time.Time // when score was last decayed
	next    time.Time // the earliest slot for the next attempt (addresses and accounts)
	trusted time.Time // the last success (pairs)

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
	return &Throttle{o: o, keys: make(map[string]*throttleKey)}
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

// LoginAttempt is one attempt that Begin let through. It counts as a
// failure unless Succeed or Abandon is called.
type LoginAttempt struct {
	t                *Throttle
	addr, acct, pair string
	start            time.Time
	done             bool
	// Waited is how long Begin held the attempt back.
	Waited time.Duration
}

// Begin asks to check a password for username from the client address
// remote (an IP address without port). It waits for the attempt's turn,
// at most MaxWait, and returns ErrThrottled at once if the turn is
// further away, or ctx's error (wrapped) if ctx ends first.
func (t *Throttle) Begin(ctx context.Context, remote, username string) (*LoginAttempt, error) {
	addr, acct := throttleAddr(remote), throttleAccount(username)
	l := &LoginAttempt{t: t, addr: "a " + addr, acct: "u " + acct, pair: "p " + addr + " " + acct}
	t.mu.Lock()
	now := t.o.Now()
	t.sweepLocked(now)
	a, u, p := t.getLocked(l.addr, now), t.getLocked(l.acct, now), t.getLocked(l.pair, now)
	slot := now
	if !t.vouched(p, now) {
		if a != nil && a.next.After(slot) {
			slot = a.next
		}
		if u != nil && p != nil && p.score >= cleanScore && u.next.After(slot) {
			slot = u.next
		}
	}
	wait := slot.Sub(now)
	if wait > t.o.MaxWait {
		err := &ThrottledError{Log: true, Unlogged: 1}
		if a != nil {
			a.refused++
			if now.Sub(a.logged) < refusalLogGap {
				err.Log = false
			} else {
				err.Unlogged, a.refused, a.logged = a.refused, 0, now
			}
		}
		t.mu.Unlock()
		return nil, err
	}
	// The attempt's slot is taken on both keys whether or not they gated
	// it: their spacing counts every attempt on them.
	t.countLocked(l.addr, a, now, slot)
	t.countLocked(l.acct, u, now, slot)
	t.countLocked(l.pair, p, now, time.Time{})
	t.mu.Unlock()
	l.start, l.Waited = now, wait
	if wait > 0 {
		if err := t.o.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("mailbox: login throttle: %w", err)
		}
	}
	return l, nil
}

// Succeed records that the password was right: the attempt is forgiven,
// and its (account, address) pair trusted.
func (l *LoginAttempt) Succeed() {
	t := l.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.done {
		return
	}
	l.done = true
	now := t.o.Now()
	for _, k := range []string{l.addr, l.acct, l.pair} {
		t.refundLocked(k, now, l.start)
	}
	if p := t.keys[l.pair]; p != nil {
		p.trusted = now
	}
}

// Abandon forgets the attempt: its password could not be checked (the
// account store failed).
func (l *LoginAttempt) Abandon() {
	t := l.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.done {
		return
	}
	l.done = true
	now := t.o.Now()
	for _, k := range []string{l.addr, l.acct, l.pair} {
		t.refundLocked(k, now, l.start)
	}
}

// vouched reports whether the pair p logged in lately and has failed
// less than Budget times since (attempts in flight included, so a client
// of the owner's may open that many connections at once).
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

// countLocked adds the attempt to key (k is its state, nil if new) and,
// unless slot is zero, moves the key's next slot past this one.
func (t *Throttle) countLocked(key string, k *throttleKey, now, slot time.Time) {
	if k == nil {
		k = &throttleKey{at: now}
		t.keys[key] = k
	}
	k.score++
	if !slot.IsZero() {
		k.next = later(k.next, slot).Add(t.o.spacing(k.score))
	}
}

// refundLocked takes back the failure that an attempt begun at start
// added to key, as far as it has not decayed since.
func (t *Throttle) refundLocked(key string, now, start time.Time) {
	k := t.getLocked(key, now)
	if k == nil {
		return
	}
	k.score -= math.Exp2(-float64(max(now.Sub(start), 0)) / float64(t.o.HalfLife))
	k.score = max(k.score, 0)
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
		if t.value(k, now) < cleanScore && !k.next.After(now) {
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
	slices.SortFunc(all, func(a, b ranked) int { return cmpFloat(a.value, b.value) })
	for _, r := range all[:len(all)-target] {
		delete(t.keys, r.key)
	}
}

// value is how much a key is worth keeping: its failures, plus a budget's
// worth for a pair whose success still vouches for it.
func (t *Throttle) value(k *throttleKey, now time.Time) float64 {
	v := k.score
	if !k.trusted.IsZero() && now.Sub(k.trusted) <= t.o.Trust {
		v += float64(t.o.Budget)
	}
	return v
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// throttleAddr is the key of a client address: IPv4 addresses as they
// are, IPv6 addresses by their /64, which one host usually has whole.
func throttleAddr(remote string) string {
	ip, err := netip.ParseAddr(remote)
	if err != nil {
		return clipKey(remote)
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
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
