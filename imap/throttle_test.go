package imap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"pillarbox/mailbox"
	"pillarbox/store/storetest"
)

// TestLoginThrottle goes through LOGIN and AUTHENTICATE from several
// loopback addresses: a guessing address is refused with a temporary
// NO [UNAVAILABLE], without a wait and without its password being
// checked, even after another account logged in from it; the account's
// schedule holds back a second guessing address; the owner at a clean
// address logs in at once. The clock stands still, so any wait would be
// an hour and is caught by Sleep.
func TestLoginThrottle(t *testing.T) {
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
	outcomes := map[mailbox.LoginOutcome]int{}
	e := newEnvAt(t, storetest.New(t, pg), Options{Throttle: th, OnLogin: func(o mailbox.LoginOutcome) {
		mu.Lock()
		outcomes[o]++
		mu.Unlock()
	}}, true)

	login := func(from, user, pass string) error {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
		conn, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := imapclient.New(conn, nil)
		defer c.Close()
		if user == "" { // AUTHENTICATE PLAIN for alice
			return c.Authenticate(sasl.NewPlainClient("", "alice@example.org", pass))
		}
		return c.Login(user+"@example.org", pass).Wait()
	}
	wantCode := func(what string, err error, code imap.ResponseCode) {
		t.Helper()
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Code != code {
			t.Fatalf("%s: %v, want NO [%s]", what, err, code)
		}
	}

	wantCode("alice, wrong password", login("127.0.0.1", "alice", "wrong"), imap.ResponseCodeAuthenticationFailed)
	wantCode("alice, wrong password", login("127.0.0.1", "alice", "wrong"), imap.ResponseCodeAuthenticationFailed)
	// Bob's success between the failures gives nothing back (the old
	// throttle forgot the address), and the third failure spends the
	// budget: the address's next turn is an hour away.
	if err := login("127.0.0.1", "bob", testPassword); err != nil {
		t.Fatalf("bob: %v", err)
	}
	wantCode("alice, wrong password", login("127.0.0.1", "alice", "wrong"), imap.ResponseCodeAuthenticationFailed)
	wantCode("alice's right password from the guessing address", login("127.0.0.1", "alice", testPassword),
		imap.ResponseCodeUnavailable)
	wantCode("AUTHENTICATE PLAIN from the guessing address", login("127.0.0.1", "", testPassword),
		imap.ResponseCodeUnavailable)

	// A second address fails once freely; alice's account has now failed
	// three times, so that address's next guess waits for the account.
	wantCode("second address", login("127.0.0.3", "alice", "wrong"), imap.ResponseCodeAuthenticationFailed)
	wantCode("second address again", login("127.0.0.3", "", "wrong"), imap.ResponseCodeUnavailable)

	// The owner, from an address that has not failed, logs in at once.
	if err := login("127.0.0.2", "alice", testPassword); err != nil {
		t.Fatalf("alice from a clean address: %v", err)
	}
	if err := login("127.0.0.2", "", testPassword); err != nil {
		t.Fatalf("alice from a clean address, AUTHENTICATE: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slept) != 0 {
		t.Errorf("logins waited %v", slept)
	}
	// Every attempt is counted once, by its outcome (OnLogin).
	want := map[mailbox.LoginOutcome]int{mailbox.LoginFailed: 4, mailbox.LoginThrottled: 3, mailbox.LoginSucceeded: 3}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Errorf("login outcomes %v, want %v", outcomes, want)
	}
}

// TestLoginThrottleWaitEndsAtShutdown: a login held back by the throttle
// does not hold up Shutdown; its wait ends with the server.
func TestLoginThrottleWaitEndsAtShutdown(t *testing.T) {
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
	e := newEnvAt(t, storetest.New(t, pg), Options{Throttle: th}, true)
	c, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", "wrong").Wait(); err == nil {
		t.Fatal("wrong password accepted")
	}
	cmd := c.Login("alice@example.org", testPassword)
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("second login not held back")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
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
	if err := cmd.Wait(); err == nil {
		t.Error("login succeeded after Shutdown")
	}
}
