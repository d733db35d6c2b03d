package imap

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
	"pillarbox/smtp"
	"pillarbox/store/storetest"
)

// idle starts IDLE on a raw connection and returns its tag.
func (c *rawConn) idle() string {
	c.t.Helper()
	tag := c.send("IDLE")
	if l := c.line(); !strings.HasPrefix(l, "+") {
		c.t.Fatalf("IDLE: %q", l)
	}
	return tag
}

// within reads lines until one contains want, failing after d.
func (c *rawConn) within(d time.Duration, want string) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		c.c.SetReadDeadline(deadline)
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("waiting %v for %q: %v", d, want, err)
		}
		if strings.Contains(l, want) {
			return
		}
	}
}

// done ends IDLE.
func (c *rawConn) done(tag string) []string {
	c.t.Helper()
	io.WriteString(c.c, "DONE\r\n")
	u, st := c.until(tag)
	if !strings.HasPrefix(st, "OK") {
		c.t.Fatalf("IDLE ended with %q", st)
	}
	return u
}

func TestIdleSeesOtherSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	e.deliver("alice", testMessage(2))
	a := e.raw("alice")
	a.ok("SELECT INBOX")
	tag := a.idle()

	// SMTP delivery.
	e.deliver("alice", testMessage(3))
	a.within(time.Second, "* 3 EXISTS")

	// Another session's APPEND.
	b := e.client("alice")
	appendRaw(t, b, "INBOX", []byte(testMessage(4)), nil)
	a.within(time.Second, "* 4 EXISTS")

	// Another session's flags.
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd,
		Flags: []imap.Flag{imap.FlagFlagged, imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	a.within(time.Second, `* 2 FETCH (UID 2 FLAGS (\Flagged \Deleted \Recent))`)

	// Another session's EXPUNGE.
	if _, err := b.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	a.within(time.Second, "* 2 EXPUNGE")
	a.done(tag)

	// Sessions not in IDLE hear at their next command.
	e.deliver("alice", testMessage(5))
	contains(t, a.ok("NOOP"), "* 4 EXISTS")
	contains(t, a.ok("FETCH 4 UID"), "* 4 FETCH (UID 5)")
}

// TestIdleSeesSMTP delivers through the MX listener and a real SMTP
// client.
func TestIdleSeesSMTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := smtp.NewMX(e.svc, smtp.Options{Hostname: "mx.example.org", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go mx.Serve(ln)
	t.Cleanup(func() { mx.Shutdown(context.Background()) })

	a := e.raw("alice")
	a.ok("SELECT INBOX")
	tag := a.idle()
	msg := testMessage(1)
	sc, err := gosmtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := sc.SendMail("sender@example.net", []string{"alice@example.org"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	a.within(time.Second, "* 1 EXISTS")
	a.done(tag)
	contains(t, a.ok("FETCH 1 (ENVELOPE)"), `"message 1"`)
}

func TestSequenceNumbersStayConsistent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 5; i++ {
		e.deliver("alice", testMessage(i))
	}
	a := e.raw("alice")
	a.ok("SELECT INBOX")
	b := e.raw("alice")
	b.ok("SELECT INBOX")
	b.ok(`STORE 2 +FLAGS (\Deleted)`)
	b.ok("EXPUNGE")
	e.deliver("alice", testMessage(6))

	// a has not been told: its 3 is still UID 3, its 2 is gone, and its
	// '*' is its 5th message.
	u := a.ok("FETCH 3 UID")
	contains(t, u, "* 3 FETCH (UID 3)")
	u = a.ok("FETCH 2:* UID")
	for _, l := range u {
		if strings.Contains(l, "UID 2") || strings.Contains(l, "UID 6") {
			t.Errorf("FETCH 2:* before the EXPUNGE: %q", l)
		}
	}
	contains(t, u, "* 5 FETCH (UID 5)")
	u = a.ok("SEARCH ALL")
	contains(t, u, "* SEARCH 1 3 4 5")
	// FETCH, STORE and SEARCH may not send EXPUNGE (RFC 9051 7.5.1), and
	// the new message comes after the expunge. UID commands and NOOP
	// send both, in order.
	u = a.ok("UID SEARCH ALL")
	if want := []string{"* SEARCH 1 3 4 5", "* 2 EXPUNGE", "* 5 EXISTS", "* 5 RECENT"}; !slices.Equal(u, want) {
		t.Errorf("UID SEARCH: %q, want %q", u, want)
	}
	contains(t, a.ok("SEARCH ALL"), "* SEARCH 1 2 3 4 5")
	contains(t, a.ok("FETCH 5 UID"), "* 5 FETCH (UID 6)")
}

// TestConcurrentWritersAndReaders has several sessions and deliveries
// change one folder at once while other sessions follow it; in the end
// every session's count and UIDs are the stored ones.
func TestConcurrentWritersAndReaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 20; i++ {
		e.deliver("alice", testMessage(i))
	}
	const watchers = 4
	var clients []*imapclient.Client
	for i := 0; i < watchers; i++ {
		c := e.client("alice")
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		// imapclient (beta.8) ends SELECT's Wait before it records the
		// selected mailbox; a NOOP after it is answered only once it has.
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := imapclient.DialInsecure(e.addr, nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := c.Login("alice@example.org", testPassword).Wait(); err != nil {
				errs <- err
				return
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				errs <- err
				return
			}
			if err := c.Noop().Wait(); err != nil { // as above
				errs <- err
				return
			}
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < 30; i++ {
				n := c.Mailbox().NumMessages
				var err error
				switch rng.IntN(4) {
				case 0:
					appendRaw(t, c, "INBOX", []byte(testMessage(100+i)), nil)
				case 1:
					if n > 0 {
						_, err = c.Store(imap.SeqSetNum(uint32(rng.IntN(int(n))+1)), &imap.StoreFlags{Op: imap.StoreFlagsAdd,
							Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect()
					}
				case 2:
					_, err = c.Expunge().Collect()
				case 3:
					if n > 0 {
						_, err = c.Move(imap.SeqSetNum(uint32(rng.IntN(int(n))+1)), "Archive").Wait()
					}
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 30; i++ {
			e.deliver("alice", testMessage(200+i))
		}
	}()
	// The watchers keep reading while all this happens.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	for _, c := range clients {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mb := c.Mailbox()
				if mb == nil {
					errs <- fmt.Errorf("watcher: the mailbox is no longer selected (connection state %v)", c.State())
					return
				}
				n := mb.NumMessages
				if n == 0 {
					continue
				}
				if _, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: n}}, &imap.FetchOptions{UID: true, Flags: true}).Collect(); err != nil {
					errs <- fmt.Errorf("watcher: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Everyone catches up and agrees with the store.
	want, err := storedUIDs(e, "alice@example.org", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if n := c.Mailbox().NumMessages; int(n) != len(want) {
			t.Errorf("watcher %d counts %d messages, the store %d", i, n, len(want))
			continue
		}
		if len(want) == 0 {
			continue
		}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got []uint32
		for k, m := range msgs {
			if m.SeqNum != uint32(k+1) {
				t.Errorf("watcher %d: message %d has sequence number %d", i, k+1, m.SeqNum)
			}
			got = append(got, uint32(m.UID))
		}
		if !slices.Equal(got, want) {
			t.Errorf("watcher %d sees UIDs %v, the store %v", i, got, want)
		}
	}
}

// storedUIDs reads a folder's UIDs straight from the store.
func storedUIDs(e *testEnv, user, name string) ([]uint32, error) {
	ctx := context.Background()
	acct, err := e.db.AccountByAddress(ctx, user)
	if err != nil {
		return nil, err
	}
	f, err := e.svc.Folder(ctx, acct.ID, name)
	if err != nil {
		return nil, err
	}
	var uids []uint32
	err = e.svc.ReadMailbox(ctx, f.ID, nil, func(r *mailbox.Reader) error {
		msgs, err := r.Messages(1, 1<<32-1, 1<<30, 1, mailbox.WantFlags)
		for _, m := range msgs {
			uids = append(uids, m.UID)
		}
		return err
	})
	return uids, err
}

func TestDeletedFolderEndsSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	if err := c.Create("Doomed", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	a := e.raw("alice")
	a.ok("SELECT Doomed")
	tag := a.idle()
	_ = tag
	if err := c.Delete("Doomed").Wait(); err != nil {
		t.Fatal(err)
	}
	a.within(time.Second, "* BYE")

	// A session that deletes its own selected folder goes on, with
	// nothing selected.
	if err := c.Create("Doomed", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	b := e.raw("alice")
	b.ok("SELECT Doomed")
	b.ok("DELETE Doomed")
	b.expect("FETCH 1:* FLAGS", "BAD")
	b.ok("SELECT INBOX")
}

// TestRestartPersistence stops the server and opens the store again:
// flags, UIDs, UIDNEXT and UIDVALIDITY are what they were.
func TestRestartPersistence(t *testing.T) {
	t.Parallel()
	loc := storetest.New(t, pg)
	type state struct {
		validity, next uint32
		fetch          []string
	}
	read := func(e *testEnv) state {
		r := e.raw("alice")
		var s state
		for _, l := range r.ok("SELECT Archive") {
			fmt.Sscanf(l, "* OK [UIDVALIDITY %d]", &s.validity)
			fmt.Sscanf(l, "* OK [UIDNEXT %d]", &s.next)
		}
		s.fetch = r.ok("FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)")
		r.ok("LOGOUT")
		return s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	e := newEnvAt(t, loc, Options{}, true)
	r := e.raw("alice")
	r.appendMsg("Archive", `(\Seen Keep) "1-Feb-2024 10:00:00 +0100" `, testMessage(1))
	r.appendMsg("Archive", `(\Flagged) `, testMessage(2))
	r.appendMsg("Archive", ``, testMessage(3))
	r.ok("SELECT Archive")
	r.ok(`STORE 2 +FLAGS (\Deleted)`)
	r.ok("EXPUNGE")
	r.ok(`STORE 2 +FLAGS (\Answered $Later)`)
	before := read(e)
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	e.db.Close()

	e2 := newEnvAt(t, loc, Options{}, false)
	after := read(e2)
	if before.validity == 0 || before.validity != after.validity || before.next != after.next || before.next != 4 ||
		!slices.Equal(before.fetch, after.fetch) {
		t.Errorf("after restart:\n%+v\nbefore:\n%+v", after, before)
	}
	contains(t, after.fetch, `UID 3 FLAGS (\Answered $Later)`)
	contains(t, after.fetch, `UID 1 FLAGS (\Seen Keep) INTERNALDATE " 1-Feb-2024 09:00:00 +0000"`)
}

// TestOwnSilentStoreKeepsOthersChange: another session's flag change,
// then this session's own STORE .SILENT of the same message before it
// polls: the other change must still be told (the poll wrote only the
// last change of each message, and skipped it as this session's own).
func TestOwnSilentStoreKeepsOthersChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	a, b := e.raw("alice"), e.raw("alice")
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	b.ok(`STORE 1 +FLAGS.SILENT (\Seen)`)
	u := append(a.ok(`STORE 1 +FLAGS.SILENT (\Flagged)`), a.ok("NOOP")...)
	contains(t, u, `\Seen`)
}

// TestDeleteSelectedEndsUpdates: DELETE of the selected folder ends the
// searches kept up to date there; they do not report on the next folder.
func TestDeleteSelectedEndsUpdates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	r := e.raw("alice")
	r.ok("CREATE foo")
	r.ok("SELECT foo")
	r.ok("SEARCH RETURN (UPDATE ALL) ALL")
	r.ok("DELETE foo")
	r.ok("SELECT INBOX")
	e.deliver("alice", testMessage(2))
	for _, l := range r.ok("NOOP") {
		if strings.Contains(l, "ESEARCH") {
			t.Fatalf("the deleted folder's search reports on INBOX: %q", l)
		}
	}
}

// TestIdleLineTooLong: a line over the limit in place of DONE loses the
// framing: IDLE ends with BAD and BYE and the connection closes, as in
// the command loop (it answered BAD and read on).
func TestIdleLineTooLong(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("alice")
	c.ok("SELECT INBOX")
	tag := c.idle()
	io.WriteString(c.c, strings.Repeat("a", 70<<10)+"\r\n")
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, _ := io.ReadAll(c.r)
	if !strings.Contains(string(rest), tag+" BAD") || !strings.Contains(string(rest), "* BYE") {
		t.Errorf("after an overlong line in IDLE: %q", rest)
	}
}
