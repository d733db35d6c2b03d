package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"
)

// imapRaw sends, as alice, the commands that a library client would not
// write: names as atoms and literals, LIST references into other
// namespaces, ACL and quota commands, and searches whose results are
// read off the wire.
func (x *crossProber) imapRaw(addr string) {
	t := x.t
	c, err := dialRawIMAP(addr, "alice@example.test", "pw-alice", x.seen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	subj, body := x.secrets.subject, x.secrets.body
	lit := func(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }
	cmds := []string{
		`LIST "" *`, `LIST "" %`, `LIST "~bob" *`, `LIST "~bob/" *`, `LIST "~" *`, `LIST "#shared" *`, `LIST "#shared/" *`,
		`LIST "#user" *`, `LIST "#public" *`, `LIST "/" *`, `LIST "" "/*"`, `LIST "" "../*"`, `LIST ".." *`, `LIST "" "~bob/*"`,
		`LIST "" "%/%/%"`, `LIST "" "*bob*"`, `LIST "" "*Private*"`, `LIST "" "*INBOX*"`, `LIST (SUBSCRIBED) "" "*"`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" "*"`, `LIST "" "*" RETURN (STATUS (MESSAGES UIDNEXT SIZE))`,
		`LIST (SPECIAL-USE) "" "*"`, `LSUB "" "*"`, `LSUB "~bob" "*"`, `NAMESPACE`,
		`SELECT ~bob/INBOX`, `EXAMINE ../bob/INBOX`, `STATUS ~bob/INBOX (MESSAGES)`, `STATUS ~bob/Private (MESSAGES SIZE)`,
		`SELECT ` + lit("bob/Private"), `SELECT ` + lit("~bob/Private"), `SELECT "INBOX/../../bob/INBOX"`,
		`SELECT "INBOX\\..\\bob"`, "SELECT \"bob\tPrivate\"", "STATUS \"bob\tPrivate\" (MESSAGES)",
		"SELECT " + lit("bob\x00/Private"), `SELECT Private`, `STATUS "Private" (MESSAGES UIDNEXT UIDVALIDITY)`,
		`GETACL INBOX`, `GETACL "bob/INBOX"`, `MYRIGHTS "bob/INBOX"`, `SETACL INBOX bob@example.test lrswipkxtea`,
		`SETACL "~bob/INBOX" alice@example.test lrswipkxtea`, `GETQUOTAROOT "bob/INBOX"`, `ID ("name" "probe")`,
		`ENABLE UTF8=ACCEPT`, `SELECT "bøb/Private"`, `STATUS "~bob/Private" (MESSAGES)`,
		`SELECT INBOX`,
		`UID FETCH 1:4294967295 (UID BODY.PEEK[])`, `UID FETCH * (BODY.PEEK[])`, `UID FETCH 4294967295 (BODY.PEEK[])`,
		`UID FETCH 0:* (FLAGS)`, `FETCH 1:* (BODY.PEEK[] ENVELOPE)`, `FETCH * (BODY.PEEK[])`, `FETCH 4294967295 (FLAGS)`,
		`FETCH 1:4294967295 (FLAGS)`, `FETCH 0 (FLAGS)`, `UID FETCH 1:* (BINARY.PEEK[])`, `UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject)])`,
		`UID SEARCH ALL`, `UID SEARCH UID 1:4294967295`, `SEARCH 1:4294967295`, `SEARCH NOT SUBJECT "zz-none"`,
		`UID STORE 1:4294967295 +FLAGS.SILENT (\Flagged)`, `UID STORE 4294967295 +FLAGS (\Deleted)`,
		`UID STORE * -FLAGS (\Flagged)`, `STORE 1:* +FLAGS (raw-probe)`, `UID COPY 1:4294967295 Scratch`,
		`UID COPY * ~bob/INBOX`, `UID MOVE 4294967295 bob/INBOX`, `UID COPY 1:* "../bob/INBOX"`,
		`UID EXPUNGE 4294967295`, `UNSELECT`,
	}
	// Searches for bob's secret: each must find nothing. SEARCHRES ($)
	// then FETCHes what was saved.
	searches := []string{
		`SEARCH SUBJECT "` + subj + `"`, `SEARCH TEXT "` + subj + `"`, `SEARCH BODY "` + body + `"`,
		`SEARCH HEADER Message-ID "` + subj + `"`, `SEARCH RETURN (ALL COUNT MIN MAX) SUBJECT "` + subj + `"`,
		`UID SEARCH RETURN (SAVE) OR SUBJECT "` + subj + `" BODY "` + body + `"`, `SEARCH CHARSET UTF-8 TEXT ` + lit(body),
	}
	for _, cmd := range cmds {
		x.attempts++
		untagged, st, err := c.cmd(cmd)
		t.Logf("raw %q: %d untagged, %q %v", cmd, len(untagged), st, err)
		if err != nil {
			// The connection died, perhaps of the previous command: try
			// this one again on a new one.
			c.close()
			if c, err = dialRawIMAP(addr, "alice@example.test", "pw-alice", x.seen); err != nil {
				t.Fatal(err)
			}
			untagged, st, err = c.cmd(cmd)
			t.Logf("raw %q on a new connection: %d untagged, %q %v", cmd, len(untagged), st, err)
			if err != nil {
				t.Fatalf("raw %q: %v", cmd, err)
			}
		}
		// Alice has no folder named after bob, nor one named Private.
		namesBob := strings.Contains(cmd, "bob") || strings.Contains(cmd, "Private")
		if namesBob && mustFailRE.MatchString(cmd) && strings.HasPrefix(st, "OK") {
			x.violate("raw %q as alice: %q", cmd, st)
		}
		if strings.HasPrefix(cmd, "LIST") || strings.HasPrefix(cmd, "LSUB") {
			for _, u := range untagged {
				if strings.Contains(u, "Private") || strings.Contains(strings.ToLower(u), "bob") {
					x.violate("raw %q as alice lists %q", cmd, u)
				}
			}
		}
	}
	for _, box := range []string{"INBOX", "Scratch", "Trash"} {
		if _, st, err := c.cmd("SELECT " + box); err != nil || !strings.HasPrefix(st, "OK") {
			t.Fatalf("SELECT %s: %s %v", box, st, err)
		}
		for _, cmd := range searches {
			x.attempts++
			untagged, st, err := c.cmd(cmd)
			t.Logf("raw %s %q: %q %q %v", box, cmd, untagged, st, err)
			for _, u := range untagged {
				if found := searchHits(u); found != "" {
					x.violate("raw %s %q as alice found %s", box, cmd, found)
				}
			}
		}
		x.attempts++
		untagged, st, err := c.cmd(`UID FETCH $ (BODY.PEEK[])`)
		t.Logf("raw %s UID FETCH $: %d untagged, %q %v", box, len(untagged), st, err)
		if len(untagged) != 0 {
			x.violate("raw %s UID FETCH $ after searching bob's secret returned %q", box, untagged)
		}
	}
}

// mustFailRE matches the raw commands that name one mailbox and must
// fail when alice has no such folder. (A UID COPY or MOVE of a set that
// matches no message may say OK without looking at the target.)
var mustFailRE = regexp.MustCompile(`^(SELECT|EXAMINE|STATUS|GETACL|MYRIGHTS|SETACL|GETQUOTAROOT|UID COPY (\*|1:\*)) `)

// searchHits returns the numbers a SEARCH or ESEARCH response reports,
// or "".
func searchHits(line string) string {
	switch {
	case strings.HasPrefix(line, "* SEARCH"):
		return strings.TrimSpace(strings.TrimPrefix(line, "* SEARCH"))
	case strings.HasPrefix(line, "* ESEARCH"):
		m := regexp.MustCompile(`\b(ALL|MIN|MAX) (\S+)|\bCOUNT ([1-9]\d*)`).FindString(line)
		return m
	}
	return ""
}

// imapLogins tries to become bob with alice's password. Each attempt
// comes from its own loopback address, so that the failed-login throttle
// (which is not under test here) does not slow the test. Whatever logs
// in then reads INBOX and Private: the secret check sees what it got.
func (x *crossProber) imapLogins(addr string) {
	t := x.t
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	lit := func(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }
	attempts := []struct {
		cmd string
		ok  bool // alice's own login: OK is right
	}{
		{`LOGIN "bob@example.test" "pw-alice"`, false},
		{`LOGIN "BOB@EXAMPLE.TEST" "pw-alice"`, false},
		{`LOGIN "bob" "pw-alice"`, false},
		{`LOGIN "bob+alice@example.test" "pw-alice"`, false},
		{`LOGIN "bobalias@example.test" "pw-alice"`, false},
		{`LOGIN "postmaster@example.test" "pw-alice"`, false},
		{`LOGIN "team@example.test" "pw-alice"`, false},
		{`LOGIN "alice@example.test bob@example.test" "pw-alice"`, false},
		{`LOGIN ` + lit("alice@example.test\x00bob@example.test") + ` "pw-alice"`, false},
		{`LOGIN ` + lit("bob@example.test\x00alice@example.test") + ` "pw-alice"`, false},
		{`LOGIN "alice@example.test" "pw-alice" "bob@example.test"`, false},
		{`LOGIN "bob@example.test" ` + lit("pw-alice\x00"), false},
		{`AUTHENTICATE PLAIN ` + b64("bob@example.test\x00alice@example.test\x00pw-alice"), false},
		{`AUTHENTICATE PLAIN ` + b64("bob\x00alice@example.test\x00pw-alice"), false},
		{`AUTHENTICATE PLAIN ` + b64("\x00bob@example.test\x00pw-alice"), false},
		{`AUTHENTICATE PLAIN ` + b64("BOB@example.test\x00ALICE@example.test\x00pw-alice"), false},
		{`LOGIN "ALICE@EXAMPLE.TEST" "pw-alice"`, true},
		{`AUTHENTICATE PLAIN ` + b64("alice@example.test\x00alice@example.test\x00pw-alice"), true},
		{`LOGIN "alice+bob@example.test" "pw-alice"`, true},
	}
	// A failed IMAP login is answered after the throttle's delay even the
	// first time: the attempts run at once, each from its own address.
	type result struct {
		status string
		err    error
		extra  int
	}
	results := make([]result, len(attempts))
	var wg sync.WaitGroup
	for i, a := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(20+i))}
			c, err := dialRawIMAPAnon(addr, local, x.seen)
			if err != nil {
				results[i].err = fmt.Errorf("dialing from %v: %w", local, err)
				return
			}
			defer c.close()
			_, results[i].status, results[i].err = c.cmd(a.cmd)
			if strings.HasPrefix(results[i].status, "OK") {
				for _, cmd := range []string{"SELECT INBOX", "FETCH 1:* (BODY.PEEK[])", "SELECT Private", "FETCH 1:* (BODY.PEEK[])"} {
					results[i].extra++
					c.cmd(cmd)
				}
			}
		}()
	}
	wg.Wait()
	for i, a := range attempts {
		r := results[i]
		x.attempts += 1 + r.extra
		t.Logf("login %q: %q %v", a.cmd, r.status, r.err)
		if r.err != nil && r.status == "" {
			t.Fatal(r.err)
		}
		if strings.HasPrefix(r.status, "OK") && !a.ok {
			x.violate("alice's %q logged in", a.cmd)
		}
	}
}

// submission tries, as alice on submission, the MAIL FROM forms that
// name bob or his aliases, next to forms that are hers (which must still
// work). A DATA follows an accepted MAIL and RCPT, so that a wrongly
// accepted sender shows up in the store too (checkSubmitted).
func (x *crossProber) submission(addr string) {
	t := x.t
	forms := []struct {
		from string
		own  bool
	}{
		{"bob@example.test", false}, {"BOB@EXAMPLE.TEST", false}, {"Bob@Example.Test", false},
		{"bob+x@example.test", false}, {"bob+alice@example.test", false}, {"BOB+ALICE@example.test", false},
		{`"bob"@example.test`, false}, {`"BOB"@example.test`, false}, {`"bob+x"@example.test`, false},
		{`"bob@example.test"@example.test`, false},
		{"bobalias@example.test", false}, {"bobalias+x@example.test", false}, {"BOBALIAS@example.test", false},
		{"postmaster@example.test", false}, {"Postmaster@example.test", false}, {"postmaster", false},
		{"bob@example.test.", false}, {"bob@EXAMPLE.TEST.", false}, {"@example.test:bob@example.test", false},
		{"@remote.test:bob@example.test", false}, {"bob%example.test@example.test", false},
		{"bob@example.test@example.test", false}, {"alice@example.test@bob", false},
		{"bob@[127.0.0.1]", false}, {"bob@ｅｘａｍｐｌｅ.test", false}, {"ｂｏｂ@example.test", false},
		{"bob@example。test", false}, {"b\u200bob@example.test", false}, {"bob\x00@example.test", false},
		{"alice\x00bob@example.test", false}, {"bob@example.test\x00alice@example.test", false},
		{"bob@xn--example-.test", false}, {"bob@example.test ", false}, {" bob@example.test", false},
		{"alice@example.test", true}, {"ALICE@EXAMPLE.TEST", true}, {"alice+x@example.test", true},
		{"alice+bob@example.test", true}, {`"alice"@example.test`, true}, {"team@example.test", true},
		{"team+x@example.test", true},
	}
	p := &relayProber{addr: addr, user: "alice@example.test", pass: "pw-alice"}
	defer p.close()
	for i, f := range forms {
		for _, ext := range []string{"", " SMTPUTF8", " AUTH=<alice@example.test>"} {
			x.attempts++
			pr := relayProbe{mode: "submission-auth", name: fmt.Sprintf("MAIL FROM:<%s>%s", f.from, ext), steps: []relayStep{
				step("MAIL FROM:<"+f.from+">"+ext, f.own),
				step("RCPT TO:<alice@example.test>", f.own),
			}}
			res := p.run(t, 1000+i, pr)
			t.Logf("submission %s: %s", pr.name, strings.Join(res.replies, " / "))
			x.violations = append(x.violations, res.violations...)
		}
	}
}

// checkSubmitted reads what submission stored: every message alice sent
// must carry one of her own addresses as its Return-Path.
func (x *crossProber) checkSubmitted(dataDir string) {
	t := x.t
	db := openDataStore(t, dataDir)
	defer db.Close()
	own := regexp.MustCompile(`^<(alice|team)(\+[a-z]+)?@example\.test>$`)
	n := 0
	for _, who := range []string{"alice@example.test", "bob@example.test"} {
		for box, msgs := range allMessages(t, db, who) {
			for _, m := range msgs {
				if !strings.HasPrefix(headerField(m, "Message-ID"), "<relay-probe-") {
					continue
				}
				n++
				if rp := headerField(m, "Return-Path"); !own.MatchString(rp) {
					x.violate("%s's %s has a message alice submitted as %s", who, box, rp)
				}
			}
		}
	}
	t.Logf("%d messages alice submitted as herself were stored", n)
}

// dialRawIMAPAnon connects from local (nil: any) and reads the greeting.
func dialRawIMAPAnon(addr string, local net.Addr, seen io.Writer) (*rawIMAP, error) {
	d := net.Dialer{Timeout: probeTimeout, LocalAddr: local}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := newRawIMAP(conn, seen)
	conn.SetReadDeadline(time.Now().Add(probeTimeout))
	if _, err := c.readLine(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}
