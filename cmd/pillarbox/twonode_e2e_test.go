package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"
)

// TestTwoNodesOnePostgres runs two built servers on one PostgreSQL
// database: 20 senders split across both nodes' MX, and every message
// they were answered 250 for is in the mailbox exactly once, with UIDs
// 1..N, UIDNEXT past them and HIGHESTMODSEQ at least N, as read over
// IMAP from either node.
func TestTwoNodesOnePostgres(t *testing.T) {
	t.Parallel()
	dsn := pg.DB(t)
	const user, pass = "alice@example.test", "pw-alice-2n"
	var cfgs [2]string
	for i := range cfgs {
		data := filepath.Join(t.TempDir(), "data")
		cfgs[i] = writeServeConfig(t, data, func(c *Config) {
			c.IMAP.Listen = "127.0.0.1:0"
			c.Store.Driver, c.Store.DSN = "postgres", dsn
		})
	}
	mustCLI(t, pass+"\n", "user", "add", user, "--password-stdin", "--config", cfgs[0])
	var nodes [2]*serveProc
	for i := range nodes {
		nodes[i] = startServer(t, cfgs[i], t.TempDir())
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
		const n = senders * each
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
