package smtp

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

// TestSubmissionLoginThrottle goes through AUTH PLAIN and LOGIN from
// several loopback addresses: a guessing address is refused with 454
// 4.7.0, without a wait and without its password being checked, even
// after another account logged in from it; the account's schedule holds
// back a second guessing address; the owner at a clean address logs in
// at once. The clock stands still, so any wait would be an hour and is
// caught by Sleep.
func TestSubmissionLoginThrottle(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var slept []time.Duration
	th := mailbox.NewThrottle(mailbox.ThrottleOptions{Budget: 3, Base: time.Hour, Max: time.Hour, MaxWait: time.Second,
		Now: func() time.Time { return now },
		Sleep: func(_ context.Context, d time.Duration) error {
			mu.Lock()
			slept = append(slept, d)
			mu.Unlock()
			return nil
		}})
	e := startSubmissionWith(t, 0, th)

	auth := func(from string, mech sasl.Client) error {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
		conn, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := gosmtp.NewClient(conn)
		defer c.Close()
		if err := c.Hello("client.example.net"); err != nil {
			t.Fatal(err)
		}
		return c.Auth(mech)
	}
	plain := func(user, pass string) sasl.Client { return sasl.NewPlainClient("", user+"@example.org", pass) }
	login := func(user, pass string) sasl.Client { return sasl.NewLoginClient(user+"@example.org", pass) }
	failed, refused := gosmtp.EnhancedCode{5, 7, 8}, gosmtp.EnhancedCode{4, 7, 0}

	subWantCode(t, "alice, wrong password", auth("127.0.0.1", plain("alice", "wrong")), 535, failed)
	subWantCode(t, "alice, wrong password", auth("127.0.0.1", login("alice", "wrong")), 535, failed)
	// Bob's success between the failures gives nothing back (the old
	// throttle forgot the address), and the third failure spends the
	// budget: the address's next turn is an hour away.
	if err := auth("127.0.0.1", plain("bob", "bob-pw")); err != nil {
		t.Fatalf("bob: %v", err)
	}
	subWantCode(t, "alice, wrong password", auth("127.0.0.1", plain("alice", "wrong")), 535, failed)
	subWantCode(t, "alice's right password from the guessing address", auth("127.0.0.1", plain("alice", "alice-pw")), 454, refused)
	subWantCode(t, "AUTH LOGIN from the guessing address", auth("127.0.0.1", login("alice", "alice-pw")), 454, refused)

	// A second address fails once freely; alice's account has now failed
	// three times, so that address's next guess waits for the account.
	subWantCode(t, "second address", auth("127.0.0.3", plain("alice", "wrong")), 535, failed)
	subWantCode(t, "second address again", auth("127.0.0.3", login("alice", "wrong")), 454, refused)

	// The owner, from an address that has not failed, logs in at once.
	if err := auth("127.0.0.2", plain("alice", "alice-pw")); err != nil {
		t.Fatalf("alice from a clean address: %v", err)
	}
	if err := auth("127.0.0.2", login("alice", "alice-pw")); err != nil {
		t.Fatalf("alice from a clean address, AUTH LOGIN: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slept) != 0 {
		t.Errorf("logins waited %v", slept)
	}
	wantSub(t, "log", e.log.String(), `msg="smtp: submission login refused: too many failures" user=alice@example.org remote=127.0.0.3 refusals=1`)
}

// TestSubmissionThrottleWaitEndsAtShutdown: a login held back by the
// throttle does not hold up Shutdown; its wait ends with the server.
func TestSubmissionThrottleWaitEndsAtShutdown(t *testing.T) {
	t.Parallel()
	waiting, ended := make(chan struct{}), make(chan error, 1)
	th := mailbox.NewThrottle(mailbox.ThrottleOptions{Budget: 1, Base: time.Hour, Max: time.Hour, MaxWait: 2 * time.Hour,
		Sleep: func(ctx context.Context, d time.Duration) error {
			close(waiting)
			select {
			case <-ctx.Done():
				ended <- ctx.Err()
				return ctx.Err()
			case <-time.After(d):
				ended <- nil
				return nil
			}
		}})
	e := startSubmissionWith(t, 0, th)
	c := dial(t, e.addr)
	subWantCode(t, "wrong password", c.Auth(sasl.NewPlainClient("", "alice@example.org", "nope")), 535, gosmtp.EnhancedCode{5, 7, 8})
	c2 := dial(t, e.addr)
	authErr := make(chan error, 1)
	go func() { authErr <- c2.Auth(sasl.NewPlainClient("", "alice@example.org", "alice-pw")) }()
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("second login not held back")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.servers[0].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the wait ran its course")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wait did not end at Shutdown")
	}
	select {
	case err := <-authErr:
		if err == nil {
			t.Error("login succeeded after Shutdown")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AUTH got no answer after Shutdown")
	}
}
