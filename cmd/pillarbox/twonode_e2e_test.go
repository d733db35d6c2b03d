package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"
)

// TestTwoNodesOnePostgres runs two built servers on one PostgreSQL
// database. A client in IDLE on node B hears of a message delivered
// through node A within a second. Then 20 senders split across both
// nodes' MX, and every message they were answered 250 for is in the
// mailbox exactly once, with UIDs 1..N, UIDNEXT past them and
// HIGHESTMODSEQ at least N, as read over IMAP from either node and as
// the IDLE client on B was told them, one EXISTS at a time.
func TestTwoNodesOnePostgres(t *testing.T) {
	t.Parallel()
	const user, pass = "alice@example.test", "pw-alice-2n"
	nodes, _ := startTwoNodes(t, user, pass, func(_ int, c *Config) { c.IMAP.Listen = "127.0.0.1:0" })

	events := make(chan string, 1000)
	idler, err := imapclient.DialInsecure(nodes[1].addrs["imap"], &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(seq uint32) { events <- fmt.Sprintf("EXPUNGE %d", seq) },
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					events <- fmt.Sprintf("EXISTS %d", *d.NumMessages)
				}
			},
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer idler.Close()
	if err := idler.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if sel, err := idler.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 0 {
		t.Fatalf("SELECT on B: %+v, %v", sel, err)
	}
	idle, err := idler.Idle()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := sendPlain(nodes[0].addrs["smtp"], "first@example.net", user,
		"From: <first@example.net>\r\nTo: "+user+"\r\nSubject: first\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	waitExists(t, events, 1)
	if took := time.Since(start); took > time.Second {
		t.Errorf("IDLE on B heard of A's delivery after %v, want within a second", took)
	} else {
		t.Logf("IDLE on B heard of A's delivery %v after the 250", took.Round(time.Millisecond))
	}

	const senders, each = 20, 5
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[s%2]
			for m := range each {
				subject := fmt.Sprintf("node %d sender %d message %d", s%2, s, m)
				msg := fmt.Sprintf("From: <sender%d@example.net>\r\nTo: %s\r\nSubject: %s\r\n\r\nbody\r\n", s, user, subject)
				// t.Fatal belongs to the test's goroutine: report and stop.
				if err := sendPlain(node.addrs["smtp"], fmt.Sprintf("sender%d@example.net", s), user, msg); err != nil {
					t.Errorf("%s: %v", subject, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	const n = senders*each + 1
	// B's IDLE client is told of every message.
	waitExists(t, events, n)
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	var first imap.SeqSet
	first.AddRange(1, n)
	seen, err := idler.Fetch(first, &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(seen) != n {
		t.Fatalf("FETCH 1:%d UID on B's IDLE session: %d messages, %v", n, len(seen), err)
	}
	for j, m := range seen {
		if m.SeqNum != uint32(j+1) || m.UID != imap.UID(j+1) {
			t.Fatalf("B's IDLE session: message %d is %d with UID %d", j+1, m.SeqNum, m.UID)
		}
	}

	for i, node := range nodes {
		c, err := imapclient.DialInsecure(node.addrs["imap"], nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(user, pass).Wait(); err != nil {
			t.Fatal(err)
		}
		sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		var all imap.SeqSet
		all.AddRange(1, 0)
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		c.Logout().Wait()
		if len(msgs) != n || sel.NumMessages != n {
			t.Fatalf("node %d: %d messages (SELECT says %d), want %d", i, len(msgs), sel.NumMessages, n)
		}
		subjects := map[string]int{}
		var uids []uint32
		for _, m := range msgs {
			subjects[m.Envelope.Subject]++
			uids = append(uids, uint32(m.UID))
		}
		for s := range senders {
			for m := range each {
				if k := fmt.Sprintf("node %d sender %d message %d", s%2, s, m); subjects[k] != 1 {
					t.Errorf("node %d: %q stored %d times", i, k, subjects[k])
				}
			}
		}
		if subjects["first"] != 1 {
			t.Errorf("node %d: the first message stored %d times", i, subjects["first"])
		}
		want := make([]uint32, n)
		for j := range want {
			want[j] = uint32(j + 1)
		}
		if !slices.Equal(uids, want) {
			t.Errorf("node %d: UIDs %v, want 1..%d in order", i, uids, n)
		}
		if sel.UIDNext != imap.UID(n+1) || sel.HighestModSeq < n {
			t.Errorf("node %d: UIDNEXT %d, HIGHESTMODSEQ %d; want %d and at least %d", i, sel.UIDNext, sel.HighestModSeq, n+1, n)
		}
	}
}

// startTwoNodes starts two built servers on one new PostgreSQL
// database, each with a data_dir of its own and its config changed by
// edit (i is the node), once user (password pass) is added; it returns
// them and their config files.
func startTwoNodes(t *testing.T, user, pass string, edit func(i int, c *Config)) ([2]*serveProc, [2]string) {
	t.Helper()
	dsn := pg.DB(t)
	var cfgs [2]string
	for i := range cfgs {
		cfgs[i] = writeServeConfig(t, filepath.Join(t.TempDir(), "data"), func(c *Config) {
			c.Store.Driver, c.Store.DSN = "postgres", dsn
			edit(i, c)
		})
	}
	mustCLI(t, pass+"\n", "user", "add", user, "--password-stdin", "--config", cfgs[0])
	var nodes [2]*serveProc
	for i := range nodes {
		nodes[i] = startServer(t, cfgs[i], t.TempDir())
	}
	return nodes, cfgs
}

// waitExists reads an IDLE client's events until EXISTS n: the counts
// only grow and nothing is expunged.
func waitExists(t *testing.T, events <-chan string, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	last := 0
	for last != n {
		select {
		case ev := <-events:
			var k int
			if _, err := fmt.Sscanf(ev, "EXISTS %d", &k); err != nil || k <= last || k > n {
				t.Fatalf("after EXISTS %d: %q, waiting for EXISTS %d", last, ev, n)
			}
			last = k
		case <-deadline:
			t.Fatalf("no EXISTS %d (the last was %d)", n, last)
		}
	}
}

// sendPlain sends one message over a plaintext SMTP session (the MX on
// loopback), returning the error rather than ending the test, for
// senders on goroutines of their own.
func sendPlain(addr, from, to, msg string) error {
	c, err := gosmtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		return err
	}
	return c.SendMail(from, []string{to}, strings.NewReader(msg))
}
