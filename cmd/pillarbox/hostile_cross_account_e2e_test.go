package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"
)

// TestHostileCrossAccount replays the cross-account probes of the hostile
// round: alice, logged in over IMAP and submission, tries to read, list,
// change, copy into, rename, delete and search bob's mailboxes under every
// name that has tricked servers (paths, namespaces, ids), to reach bob's
// messages through UIDs and sequence numbers, to log in as bob with her
// own password, and to send as bob. It checks that no byte alice's
// clients received contains bob's secrets, that bob's account is exactly
// as it was (mailboxes, subscriptions, messages, flags), that alice's
// commands on names she does not own fail, and that no MAIL FROM she does
// not own is accepted.
func TestHostileCrossAccount(t *testing.T) {
	t.Parallel()
	sink := startCountingSink(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, dataDir, func(c *Config) {
		c.IMAP.Listen = "127.0.0.1:0"
		c.Submission.Listen = "127.0.0.1:0"
		c.Relay.Smarthost = sink.addr
	})
	mustCLI(t, "pw-alice\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	mustCLI(t, "pw-bobby1\n", "user", "add", "bob@example.test", "--password-stdin", "--config", cfg)
	mustCLI(t, "", "alias", "add", "bobalias@example.test", "bob@example.test", "--config", cfg)
	mustCLI(t, "", "alias", "add", "postmaster@example.test", "bob@example.test", "--config", cfg)
	mustCLI(t, "", "alias", "add", "team@example.test", "alice@example.test,bob@example.test", "--config", cfg)
	srv := startServer(t, cfg, dir)

	// Bob's secrets: alice never sends the body token, and the subject
	// only inside SEARCH commands, whose replies do not echo it.
	secretSubj, secretBody := "bob-secret-"+randomHex(t), "bob-body-"+randomHex(t)
	sec := crossSecrets{subject: secretSubj, body: secretBody}
	mxDeliver(t, srv.addrs["smtp"], "bob@example.test", fmt.Sprintf(
		"Subject: %s\r\nMessage-ID: <%s@example.net>\r\n\r\n%s\r\n", secretSubj, secretSubj, secretBody))
	mxDeliver(t, srv.addrs["smtp"], "alice@example.test", "Subject: for alice\r\n\r\nalice's own mail\r\n")
	// Bob's own client, read through the same kind of tee, must see his
	// secret: this shows that the check of what alice read can fail.
	bobSeen := &lockedBuffer{}
	bob := dialIMAP(t, srv.addrs["imap"], "bob@example.test", "pw-bobby1", bobSeen, nil)
	if _, err := bob.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	if !bobSeen.Contains(secretSubj) || !bobSeen.Contains(secretBody) {
		t.Fatal("bob's own client did not see his secret: the check of alice's reads would see nothing either")
	}
	must(t, bob.Create("Private", nil).Wait())
	appendMessage(t, bob, "Private", fmt.Sprintf("Subject: %s private\r\n\r\n%s in Private\r\n", secretSubj, secretBody))
	if _, err := bob.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
		Flags: []imap.Flag{imap.FlagFlagged, "bobs-keyword"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	bob.Logout().Wait()
	alice := dialIMAP(t, srv.addrs["imap"], "alice@example.test", "pw-alice", nil, nil)
	must(t, alice.Create("Scratch", nil).Wait())
	alice.Logout().Wait()
	x := &crossProber{t: t, seen: &lockedBuffer{}, secrets: sec}
	start := time.Now()
	// This one delivers to bob, so it runs before his state is taken.
	x.imapPush(srv.addrs["imap"], srv.addrs["smtp"])
	srv.stop(t)

	before, ids := snapshotStopped(t, dataDir, "bob@example.test")
	srv = startServer(t, cfg, dir)
	// The raw commands and logins go first: their LIST checks expect
	// alice to have no folder named after bob yet.
	for _, phase := range []struct {
		name string
		run  func()
	}{
		{"raw IMAP", func() { x.imapRaw(srv.addrs["imap"]) }},
		{"IMAP logins", func() { x.imapLogins(srv.addrs["imap"]) }},
		{"IMAP names", func() { x.imapNames(srv.addrs["imap"], ids) }},
		{"IMAP numbers", func() { x.imapNumbers(srv.addrs["imap"]) }},
		{"submission", func() { x.submission(srv.addrs["submission"]) }},
	} {
		n, t0 := x.attempts, time.Now()
		phase.run()
		t.Logf("phase %s: %d attempts in %v", phase.name, x.attempts-n, time.Since(t0).Round(time.Millisecond))
	}
	elapsed := time.Since(start)
	srv.stop(t)

	after, _ := snapshotStopped(t, dataDir, "bob@example.test")
	reached := 0
	if d := before.diff(after); d != "" {
		reached++
		t.Errorf("bob's account changed while alice probed it:\n%s", d)
	}
	for _, s := range []string{secretSubj, secretBody} {
		if x.seen.Contains(s) {
			reached++
			t.Errorf("alice's clients received bob's secret %q", s)
		}
	}
	if x.seen.Len() == 0 {
		t.Fatal("nothing was read from the server")
	}
	x.checkSubmitted(dataDir)
	for _, v := range x.violations {
		t.Error(v)
	}
	if n := len(sink.rcpts()); n != 0 {
		t.Errorf("the smarthost saw %d recipients", n)
	}
	t.Logf("cross-account: %d attempts, %d reached another account (%d refused replies expected but positive, %d bytes read by alice) in %v",
		x.attempts, reached+len(x.violations), len(x.violations), x.seen.Len(), elapsed.Round(time.Millisecond))
}

type crossSecrets struct{ subject, body string }

// crossProber runs alice's attempts and collects what went wrong.
type crossProber struct {
	t          *testing.T
	seen       *lockedBuffer // every byte alice's IMAP clients read
	secrets    crossSecrets
	attempts   int
	violations []string
}

func (x *crossProber) violate(format string, args ...any) {
	x.violations = append(x.violations, fmt.Sprintf(format, args...))
}

// crossNames are the names under which alice looks for bob's mailboxes;
// ids are bob's account and mailbox ids, in case they leak somewhere.
// Names with control characters are in imapRaw: go-imap's server answers
// them NO [SERVERBUG] before reading an APPEND's literal, which then runs
// as commands and confuses imapclient (the known defect of control
// characters in mailbox names).
func crossNames(ids []int64) []string {
	names := []string{
		"bob", "Bob", "BOB", "bob/INBOX", "bob/Private", "bob@example.test", "bob@example.test/INBOX",
		"../bob/INBOX", "../bob", "../bob/Private", "/bob/INBOX", "/bob", "//bob/INBOX",
		"~bob/INBOX", "~bob", "~bob/Private", "~bob@example.test/INBOX",
		"#shared/bob", "#shared/bob/INBOX", "#user/bob/INBOX", "#public/bob", "#mh/bob",
		"Other Users/bob/INBOX", "Other Users/bob@example.test/Private", "Shared Folders/bob/INBOX", "user/bob/INBOX", "user.bob",
		"INBOX/../../bob", "INBOX/../bob/INBOX", "INBOX/../../bob/Private", "./INBOX", "../INBOX",
		"INBOX.bob", `INBOX\bob`, "bob%", "bob*", "Private", "private", "PRIVATE", "Private/",
		"Ｐｒｉｖａｔｅ", "b\u200bob/Private",
	}
	for _, id := range ids {
		names = append(names, fmt.Sprint(id), fmt.Sprintf("#%d", id), fmt.Sprintf("/%d", id), fmt.Sprintf("mailbox:%d", id))
	}
	return names
}

// imapNames tries every mailbox command on every name, first while
// alice has none of them, then after she created what she could in her
// own account.
func (x *crossProber) imapNames(addr string, ids []int64) {
	t := x.t
	c := dialIMAP(t, addr, "alice@example.test", "pw-alice", x.seen, nil)
	defer c.Close()
	initial := x.list(c, "", "*")
	want := []string{"Archive", "Drafts", "INBOX", "Junk", "Scratch", "Sent", "Trash"}
	if !slices.Equal(initial, want) {
		x.violate(`LIST "" "*" as alice: %q, want %q`, initial, want)
	}
	names := crossNames(ids)
	x.nameRound(c, names, "before CREATE", initial)
	for _, n := range names {
		x.attempts++
		err := c.Create(n, nil).Wait()
		t.Logf("CREATE %q: %v", n, errText(err))
	}
	owned := x.list(c, "", "*")
	t.Logf("alice's folders after CREATE: %q", owned)
	x.nameRound(c, names, "after CREATE", owned)
}

// nameRound runs one round of commands on every name; a positive reply
// is right only for a name in owned (alice's own folders).
func (x *crossProber) nameRound(c *imapclient.Client, names []string, round string, owned []string) {
	t := x.t
	// Names compare without case and a trailing delimiter, so that a
	// server that folds them onto alice's own folder is not blamed.
	isOwned := func(n string) bool {
		n = strings.TrimSuffix(n, "/")
		return slices.ContainsFunc(owned, func(o string) bool { return strings.EqualFold(o, n) })
	}
	check := func(cmd, n string, err error) {
		x.attempts++
		t.Logf("%s: %s %q: %s", round, cmd, n, errText(err))
		if err == nil && !isOwned(n) {
			x.violate("%s: alice's %s %q succeeded but she has no such folder", round, cmd, n)
		}
	}
	allowed := map[string]bool{}
	for _, n := range owned {
		for i := range n {
			if n[i] == '/' {
				allowed[n[:i]] = true
			}
		}
		allowed[n] = true
	}
	peek := &imap.FetchOptions{Envelope: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	scratchEmpty := true // MOVE takes everything in Scratch
	for i, n := range names {
		for _, ro := range []bool{false, true} {
			_, err := c.Select(n, &imap.SelectOptions{ReadOnly: ro}).Wait()
			check(map[bool]string{false: "SELECT", true: "EXAMINE"}[ro], n, err)
			if err == nil {
				c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, peek).Collect()
				c.Unselect().Wait()
			}
		}
		_, err := c.Status(n, &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true, Size: true}).Wait()
		check("STATUS", n, err)
		check("APPEND", n, appendTo(c, n, fmt.Sprintf("Subject: alice appends %d\r\n\r\nmine\r\n", i)))
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		_, err = c.Copy(imap.SeqSet{{Start: 1, Stop: 0}}, n).Wait()
		check("COPY", n, err)
		if scratchEmpty {
			if err := appendTo(c, "Scratch", "Subject: to move\r\n\r\nx\r\n"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Select("Scratch", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		_, err = c.Move(imap.SeqSet{{Start: 1, Stop: 0}}, n).Wait()
		check("MOVE", n, err)
		scratchEmpty = err == nil
		c.Unselect().Wait()
		// Subscriptions are names (RFC 9051 6.3.7): SUBSCRIBE to a name
		// without a folder succeeds, as on Dovecot. What must hold is that
		// the subscription is alice's own name and shows nothing of bob's:
		// LIST (SUBSCRIBED) gives it \NonExistent, without STATUS.
		err = c.Subscribe(n).Wait()
		x.attempts++
		t.Logf("%s: SUBSCRIBE %q: %s", round, n, errText(err))
		if err == nil && !isOwned(n) {
			got, err := c.List("", n, &imap.ListOptions{SelectSubscribed: true,
				ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
			for _, d := range got {
				nonExistent := slices.Contains(d.Attrs, imap.MailboxAttrNonExistent)
				if !allowed[d.Mailbox] && (!nonExistent || d.Status != nil) {
					x.violate("%s: alice's subscription %q lists as %q %v with status %v", round, n, d.Mailbox, d.Attrs, d.Status != nil)
				}
			}
			t.Logf("%s: LIST (SUBSCRIBED) %q: %d, %s", round, n, len(got), errText(err))
		}
		err = c.Unsubscribe(n).Wait()
		x.attempts++
		t.Logf("%s: UNSUBSCRIBE %q: %s", round, n, errText(err))
		for _, p := range [][2]string{{"", n}, {n, "*"}, {"", n + "/*"}, {n, "%"}} {
			x.attempts++
			got, err := c.List(p[0], p[1], &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
			for _, d := range got {
				if !allowed[d.Mailbox] {
					x.violate("%s: LIST %q %q as alice shows %q", round, p[0], p[1], d.Mailbox)
				}
			}
			t.Logf("%s: LIST %q %q: %d, %s", round, p[0], p[1], len(got), errText(err))
		}
	}
	// RENAME and DELETE last: they change what alice owns.
	for i, n := range names {
		to := fmt.Sprintf("Renamed-%s-%d", strings.ReplaceAll(round, " ", "-"), i)
		err := c.Rename(n, to, nil).Wait()
		check("RENAME", n, err)
		if err == nil {
			err = c.Delete(to).Wait()
			x.attempts++
			t.Logf("%s: DELETE renamed %q: %s", round, to, errText(err))
		} else {
			check("DELETE", n, c.Delete(n).Wait())
		}
	}
}

// list returns the mailbox names of a LIST, sorted.
func (x *crossProber) list(c *imapclient.Client, ref, pattern string) []string {
	x.attempts++
	got, err := c.List(ref, pattern, nil).Collect()
	if err != nil {
		x.t.Fatalf("LIST %q %q: %v", ref, pattern, err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.Mailbox)
	}
	slices.Sort(names)
	return names
}

// imapNumbers reaches for other messages through numbers: UIDs and
// sequence numbers past alice's own, "*", and searches for bob's secret
// in every folder alice has.
func (x *crossProber) imapNumbers(addr string) {
	t := x.t
	c := dialIMAP(t, addr, "alice@example.test", "pw-alice", x.seen, nil)
	defer c.Close()
	const maxUID = imap.UID(^uint32(0))
	peek := &imap.FetchOptions{UID: true, Flags: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	secret := func(c imap.SearchCriteria) *imap.SearchCriteria { return &c }
	searches := map[string]*imap.SearchCriteria{
		"SUBJECT secret": secret(imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: x.secrets.subject}}}),
		"TEXT secret":    secret(imap.SearchCriteria{Text: []string{x.secrets.subject}}),
		"BODY secret":    secret(imap.SearchCriteria{Body: []string{x.secrets.body}}),
		"HEADER Message-ID secret": secret(imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{
			{Key: "Message-ID", Value: x.secrets.subject}}}),
		"OR SUBJECT secret BODY secret": secret(imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: x.secrets.subject}}},
			{Body: []string{x.secrets.body}}}}}),
	}
	for _, box := range x.list(c, "", "*") {
		if _, err := c.Select(box, nil).Wait(); err != nil {
			continue // a \Noselect level
		}
		for name, set := range map[string]imap.NumSet{
			"UID 1:*":                   imap.UIDSet{{Start: 1, Stop: 0}},
			"UID *":                     imap.UIDSet{{Start: 0, Stop: 0}},
			"UID 4294967295":            imap.UIDSetNum(maxUID),
			"UID 4294967294:4294967295": imap.UIDSet{{Start: maxUID - 1, Stop: maxUID}},
			"UID 2:100000":              imap.UIDSet{{Start: 2, Stop: 100000}},
			"1:*":                       imap.SeqSet{{Start: 1, Stop: 0}},
			"*":                         imap.SeqSet{{Start: 0, Stop: 0}},
			"4294967295":                imap.SeqSetNum(^uint32(0)),
			"1:4294967295":              imap.SeqSet{{Start: 1, Stop: ^uint32(0)}},
		} {
			x.attempts++
			msgs, err := c.Fetch(set, peek).Collect()
			t.Logf("%s: FETCH %s: %d messages, %s", box, name, len(msgs), errText(err))
			x.attempts++
			_, err = c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{"alice-probe"}}, nil).Collect()
			t.Logf("%s: STORE %s +FLAGS alice-probe: %s", box, name, errText(err))
			x.attempts++
			_, err = c.Copy(set, "Scratch").Wait()
			t.Logf("%s: COPY %s Scratch: %s", box, name, errText(err))
		}
		for name, crit := range searches {
			for _, uid := range []bool{false, true} {
				x.attempts++
				var data *imap.SearchData
				var err error
				if uid {
					data, err = c.UIDSearch(crit, &imap.SearchOptions{ReturnAll: true, ReturnCount: true}).Wait()
				} else {
					data, err = c.Search(crit, nil).Wait()
				}
				switch {
				case err != nil:
					t.Logf("%s: SEARCH %s: %v", box, name, err)
				case data.Count != 0 || len(data.AllSeqNums()) != 0 || len(data.AllUIDs()) != 0:
					x.violate("%s: alice's SEARCH %s found %v", box, name, data.All)
				}
			}
		}
		for _, set := range []imap.UIDSet{{{Start: maxUID, Stop: maxUID}}, {{Start: 1, Stop: 0}}} {
			x.attempts++
			_, err := c.Move(set, "Trash").Wait()
			t.Logf("%s: UID MOVE %v Trash: %s", box, set, errText(err))
		}
		x.attempts++
		_, err := c.UIDExpunge(imap.UIDSet{{Start: 1, Stop: maxUID}}).Collect()
		t.Logf("%s: UID EXPUNGE 1:4294967295: %s", box, errText(err))
	}
}

// imapPush checks that a session of alice's hears of her new mail only:
// bob's delivery comes first, so an update meant for him would arrive
// before hers.
func (x *crossProber) imapPush(imapAddr, smtpAddr string) {
	t := x.t
	counts := make(chan uint32, 16)
	c := dialIMAP(t, imapAddr, "alice@example.test", "pw-alice", x.seen, &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				counts <- *d.NumMessages
			}
		},
	})
	defer c.Close()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	x.attempts++
	mxDeliver(t, smtpAddr, "bob@example.test", fmt.Sprintf("Subject: %s again\r\n\r\n%s\r\n", x.secrets.subject, x.secrets.body))
	mxDeliver(t, smtpAddr, "alice@example.test", "Subject: alice again\r\n\r\nx\r\n")
	select {
	case n := <-counts:
		if n != sel.NumMessages+1 {
			x.violate("alice's IDLE on INBOX (%d messages) heard of %d after one delivery to her and one to bob", sel.NumMessages, n)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("alice's IDLE heard nothing of her new message")
	}
	idle.Close()
	idle.Wait()
	x.attempts++
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	t.Logf("IDLE then FETCH 1:*: %d messages, %s", len(msgs), errText(err))
}

// dialIMAP logs in with imapclient over a connection whose reads are
// copied to seen (when not nil).
func dialIMAP(t *testing.T, addr, user, pass string, seen *lockedBuffer, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var nc net.Conn = conn
	if seen != nil {
		nc = readTee{Conn: conn, w: seen}
	}
	c := imapclient.New(nc, &imapclient.Options{UnilateralDataHandler: h})
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		t.Fatalf("login as %s: %v", user, err)
	}
	return c
}

func appendTo(c *imapclient.Client, box, msg string) error {
	cmd := c.Append(box, int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

func appendMessage(t *testing.T, c *imapclient.Client, box, msg string) {
	t.Helper()
	must(t, appendTo(c, box, msg))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func errText(err error) string {
	if err == nil {
		return "OK"
	}
	return err.Error()
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// mxDeliver sends one message through the MX with go-smtp's client.
func mxDeliver(t *testing.T, addr, to, msg string) {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("s@example.net", []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}

// snapshotStopped reads an account's state and its account and mailbox
// ids from a stopped server's data dir, and closes the store again.
func snapshotStopped(t *testing.T, dataDir, address string) (accountState, []int64) {
	t.Helper()
	db := openDataStore(t, dataDir)
	defer db.Close()
	st := snapshotAccount(t, db, address)
	acct, err := db.AccountByAddress(context.Background(), address)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int64{acct.ID}
	for _, mb := range st.Mailboxes {
		ids = append(ids, mb.ID)
	}
	return st, ids
}
