package smtp

import (
	"net"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox/netlimit"
)

// TestMessageRate: a client over its per-minute message budget gets 450
// 4.7.0 at MAIL, and nothing of that transaction is stored; another
// address is served meanwhile, and the first is again once its budget
// refills.
func TestMessageRate(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := startMX(t, envOptions{opts: Options{MessageRate: netlimit.NewRate(netlimit.RateOptions{PerMinute: 2, Now: clock})}})
	dialSrc := func(src string) *gosmtp.Client {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		nc, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := gosmtp.NewClient(nc)
		t.Cleanup(func() { c.Close() })
		if err := c.Hello("client.example.net"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	msg := "Subject: rate\r\n\r\nhi\r\n"
	a := dialSrc("127.0.0.1")
	for i := range 2 {
		if err := send(a, "zoe@example.net", []string{"alice@example.org"}, msg); err != nil {
			t.Fatalf("message %d within the rate: %v", i+1, err)
		}
	}
	wantCode(t, send(a, "zoe@example.net", []string{"alice@example.org"}, msg), 450, gosmtp.EnhancedCode{4, 7, 0})
	// The budget is per client, whatever the connection.
	wantCode(t, send(dialSrc("127.0.0.1"), "zoe@example.net", []string{"alice@example.org"}, msg), 450, gosmtp.EnhancedCode{4, 7, 0})
	if err := send(dialSrc("127.0.0.2"), "zoe@example.net", []string{"alice@example.org"}, msg); err != nil {
		t.Fatalf("another client: %v", err)
	}
	if n := inboxCount(t, e, "alice@example.org"); n != 3 {
		t.Fatalf("alice has %d messages, want 3", n)
	}
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	if err := send(a, "zoe@example.net", []string{"alice@example.org"}, msg); err != nil {
		t.Fatalf("after the budget refilled: %v", err)
	}
}
