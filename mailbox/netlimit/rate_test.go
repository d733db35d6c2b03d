package netlimit

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }

func allowN(r *Rate, ip string, n int) int {
	a := netip.MustParseAddr(ip)
	ok := 0
	for range n {
		if r.Allow(a) {
			ok++
		}
	}
	return ok
}

func TestRateBurstThenRefill(t *testing.T) {
	t.Parallel()
	clk := newClock()
	r := NewRate(RateOptions{PerMinute: 6, Now: clk.now})
	if got := allowN(r, "192.0.2.1", 10); got != 6 {
		t.Fatalf("burst: %d of 10 allowed, want 6", got)
	}
	// Another client has its own budget.
	if got := allowN(r, "192.0.2.2", 1); got != 1 {
		t.Fatalf("another client: %d allowed, want 1", got)
	}
	// Six a minute is one every 10 s.
	clk.add(9 * time.Second)
	if got := allowN(r, "192.0.2.1", 1); got != 0 {
		t.Fatalf("after 9 s: %d allowed, want 0", got)
	}
	clk.add(time.Second)
	if got := allowN(r, "192.0.2.1", 2); got != 1 {
		t.Fatalf("after 10 s: %d of 2 allowed, want 1", got)
	}
	clk.add(time.Hour)
	if got := allowN(r, "192.0.2.1", 10); got != 6 {
		t.Fatalf("after an hour: %d of 10 allowed, want the whole burst, 6", got)
	}
}

// One IPv6 host can use any address of its /64: they share one budget,
// and a neighbouring /64 does not.
func TestRateKeysIPv6By64(t *testing.T) {
	t.Parallel()
	r := NewRate(RateOptions{PerMinute: 2, Now: newClock().now})
	if got := allowN(r, "2001:db8:1:2::1", 1) + allowN(r, "2001:db8:1:2:ffff::9", 2); got != 2 {
		t.Fatalf("one /64: %d of 3 allowed, want 2", got)
	}
	if got := allowN(r, "2001:db8:1:3::1", 1); got != 1 {
		t.Fatalf("the next /64: %d allowed, want 1", got)
	}
	// An IPv4-mapped address is the IPv4 client.
	allowN(r, "192.0.2.7", 2)
	if got := allowN(r, "::ffff:192.0.2.7", 1); got != 0 {
		t.Fatalf("IPv4-mapped form of a spent client: allowed")
	}
}

func TestRateExempt(t *testing.T) {
	t.Parallel()
	r := NewRate(RateOptions{PerMinute: 1, Now: newClock().now,
		Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	if got := allowN(r, "127.0.0.5", 50) + allowN(r, "::1", 50); got != 100 {
		t.Fatalf("exempt: %d of 100 allowed", got)
	}
	if got := allowN(r, "192.0.2.1", 3); got != 1 {
		t.Fatalf("not exempt: %d of 3 allowed, want 1", got)
	}
	if n := r.tracked(); n != 1 {
		t.Errorf("tracked %d clients, want 1 (exempt ones cost no memory)", n)
	}
}

func TestRateNilAndZeroAllowAll(t *testing.T) {
	t.Parallel()
	if r := NewRate(RateOptions{}); r != nil {
		t.Fatalf("NewRate with PerMinute 0 = %v, want nil", r)
	}
	var r *Rate
	if got := allowN(r, "192.0.2.1", 1000); got != 1000 {
		t.Fatalf("nil Rate: %d of 1000 allowed", got)
	}
	if !r.AllowAddr(nil) {
		t.Fatal("nil Rate refused a nil address")
	}
}

// Memory stays bounded: past MaxClients, clients whose budget has
// refilled are forgotten first, and a flood of busy clients is cut back
// rather than grown without end.
func TestRateBoundsClients(t *testing.T) {
	t.Parallel()
	clk := newClock()
	r := NewRate(RateOptions{PerMinute: 2, MaxClients: 100, Now: clk.now})
	// 100 clients spend their whole budget: all busy.
	for i := range 100 {
		allowN(r, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String(), 2)
	}
	spent := netip.MustParseAddr("192.0.2.99")
	if r.Allow(spent) {
		t.Fatal("a spent client was allowed")
	}
	// A flood of new clients keeps the table at its bound.
	for i := range 1000 {
		r.Allow(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}))
		if n := r.tracked(); n > 100 {
			t.Fatalf("tracking %d clients, bound 100", n)
		}
	}
	// Once budgets have refilled, room is made by forgetting those.
	clk.add(2 * time.Minute)
	r.Allow(netip.MustParseAddr("203.0.113.1"))
	if n := r.tracked(); n != 1 {
		t.Errorf("after the refill, tracking %d clients, want 1 (the newcomer)", n)
	}
}

// A Listener with a ConnRate refuses a client's connections over it
// with the refusal, while other clients connect, and those already in
// keep working.
func TestListenerConnRate(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, addr := startEcho(t, Options{Refusal: []byte(refusal),
		ConnRate: NewRate(RateOptions{PerMinute: 2, Now: clk.now})})
	a := dialFrom(t, "127.0.0.1", addr)
	a.wantServed()
	dialFrom(t, "127.0.0.1", addr).wantServed()
	dialFrom(t, "127.0.0.1", addr).wantRefused(refusal)
	dialFrom(t, "127.0.0.2", addr).wantServed()
	a.wantEcho()
	clk.add(30 * time.Second)
	dialFrom(t, "127.0.0.1", addr).wantServed()
}

// TestTotalAcrossListeners: listeners sharing a Total refuse a
// connection once the total is reached, whichever listener it comes to,
// and a closed connection frees its slot for any of them.
func TestTotalAcrossListeners(t *testing.T) {
	t.Parallel()
	total := NewTotal(3)
	la, a := startEcho(t, Options{Total: total, Refusal: []byte(refusal)})
	_, b := startEcho(t, Options{Total: total, Refusal: []byte(refusal)})
	c1 := dialFrom(t, "127.0.0.1", a)
	c1.wantServed()
	dialFrom(t, "127.0.0.2", a).wantServed()
	dialFrom(t, "127.0.0.3", b).wantServed()
	dialFrom(t, "127.0.0.4", b).wantRefused(refusal)
	dialFrom(t, "127.0.0.5", a).wantRefused(refusal)
	if n := total.Open(); n != 3 {
		t.Fatalf("Total.Open() = %d, want 3", n)
	}
	if n := la.Open(); n != 2 {
		t.Fatalf("listener a holds %d, want 2 (refusals hold nothing)", n)
	}
	c1.hangUp()
	dialFrom(t, "127.0.0.6", b).wantServed()
	if NewTotal(0) != nil {
		t.Fatal("NewTotal(0) is a cap")
	}
}
