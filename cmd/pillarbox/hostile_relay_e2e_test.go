package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostileRelay replays the relay probes of the hostile round against
// the built binary: recipient and sender forms that have tricked MTAs into
// relaying, sent to the MX, to submission before AUTH, and to submission
// after AUTH as alice with a sender that is not hers. Each probe's replies
// are logged. The test then checks that no RCPT that was not marked as a
// local mailbox got a positive reply, that no MAIL on submission without
// a sender of alice's own got one, and that nothing reached the queue or
// the smarthost except one legitimate control message (which proves that
// the sink and the queue check would see a relayed message).
func TestHostileRelay(t *testing.T) {
	t.Parallel()
	sink := startCountingSink(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, dataDir, func(c *Config) {
		c.Submission.Listen = "127.0.0.1:0"
		// Every outbound attempt goes to the sink on loopback: even a
		// relay bug cannot send anything off the machine.
		c.Relay.Smarthost = sink.addr
	})
	mustCLI(t, "pw-alice\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	mustCLI(t, "pw-bobby1\n", "user", "add", "bob@example.test", "--password-stdin", "--config", cfg)
	mustCLI(t, "", "alias", "add", "postmaster@example.test", "bob@example.test", "--config", cfg)
	mustCLI(t, "", "alias", "add", "bobalias@example.test", "bob@example.test", "--config", cfg)
	srv := startServer(t, cfg, dir)

	probes := relayProbes()
	start := time.Now()
	conns := map[string]*relayProber{
		"mx":         {addr: srv.addrs["smtp"]},
		"submission": {addr: srv.addrs["submission"]},
		"submission-auth": {addr: srv.addrs["submission"],
			user: "alice@example.test", pass: "pw-alice"},
	}
	var bad []string
	accepted := 0
	for i, p := range probes {
		res := conns[p.mode].run(t, i, p)
		t.Logf("probe %d [%s] %s: %s", i, p.mode, p.name, strings.Join(res.replies, " / "))
		bad = append(bad, res.violations...)
		accepted += res.acceptedLocal
	}
	for _, c := range conns {
		c.close()
	}
	for _, v := range bad {
		t.Error(v)
	}
	elapsed := time.Since(start)

	// The control: alice sends to a remote recipient as herself, which is
	// what submission is for. It must reach the sink, and it must be the
	// only thing that does.
	c := submissionLogin(t, srv.addrs["submission"], "client.example", "alice@example.test", "pw-alice", false)
	if err := c.SendMail("alice@example.test", []string{"control@remote.test"},
		strings.NewReader("Subject: relay control\r\n\r\nlegitimate\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	// A relay that is busy with wrongly queued mail may not get to the
	// control in time: that is reported, and the checks below still run.
	if sink.wait("control@remote.test", 15*time.Second) {
		srv.waitLog(t, `msg="relay: delivered".*rcpt=control@remote.test`, 15*time.Second)
	} else {
		t.Error("the control message did not reach the smarthost")
	}
	srv.stop(t)

	reached := sink.rcpts()
	delete(reached, "control@remote.test")
	relayed := 0
	for rcpt, n := range reached {
		relayed += n
		t.Errorf("the smarthost got RCPT %q %d times", rcpt, n)
	}
	if list := mustCLI(t, "", "queue", "list", "--config", cfg); list != "the queue is empty\n" {
		t.Errorf("queue list:\n%s", list)
	}
	_, svc := openDataDir(t, dataDir)
	items, err := svc.QueueList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		t.Errorf("queued: %+v", it)
	}
	t.Logf("relay probes: %d sent, %d relayed (%d RCPT accepted for local mailboxes, %d wrongly accepted replies) in %v",
		len(probes), relayed+len(items), accepted, len(bad), elapsed.Round(time.Millisecond))
}

// relayProbe is one transaction attempt: command lines sent in order on a
// connection in the given mode. A line may hold more commands separated
// by LF or CRLF; it then gets one reply per command. ok says, per reply,
// whether a positive reply is allowed (false where missing). A DATA
// always follows, with a small message if it is answered 354.
type relayProbe struct {
	mode  string // "mx", "submission" (no AUTH) or "submission-auth" (AUTH as alice)
	name  string
	steps []relayStep
}

type relayStep struct {
	line    string
	ok      []bool
	replies int // 0: one per line of line
}

func step(line string, ok ...bool) relayStep { return relayStep{line: line, ok: ok} }

// plainToken is an AUTH PLAIN initial response (RFC 4616).
func plainToken(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

// rcptForm is a recipient address as written inside RCPT TO:<...>.
type rcptForm struct {
	addr  string
	local bool // names an existing local mailbox: the MX may accept it
	utf8  bool // non-ASCII: also try with SMTPUTF8 on MAIL
}

// relayRcptForms are the recipient forms; "x" is nobody's local part, so
// a form that some parser turns into a local address still gets 550.
func relayRcptForms() []rcptForm {
	long := func(n int) string { return strings.Repeat("a", n) }
	forms := []rcptForm{
		{addr: "x@remote.test"},
		{addr: "X@REMOTE.TEST"},
		{addr: "x@REMOTE.test"},
		{addr: "bob@remote.test"},
		{addr: "postmaster@remote.test"},
		{addr: "x%remote.test@example.test"},
		{addr: "x%remote.test@EXAMPLE.TEST"},
		{addr: "x%remote.test"},
		{addr: "x%remote.test%example.test@example.test"},
		{addr: "bob%remote.test@example.test"},
		{addr: "remote.test!x@example.test"},
		{addr: "remote.test!x"},
		{addr: "example.test!remote.test!x@example.test"},
		{addr: "x@remote.test@example.test"},
		{addr: "bob@example.test@remote.test"},
		{addr: `"x@remote.test"@example.test`},
		{addr: `"x%remote.test"@example.test`},
		{addr: `"remote.test!x"@example.test`},
		{addr: `"x@remote.test"`},
		{addr: `"bob@example.test"@remote.test`},
		{addr: `"x\"@remote.test"@example.test`},
		{addr: `""@remote.test`},
		{addr: "@example.test:x@remote.test"},
		{addr: "@example.test,@example.test:x@remote.test"},
		{addr: "@remote.test:x@remote.test"},
		{addr: "@example.test:x%remote.test@example.test"},
		{addr: "x@example.test."},
		{addr: "x@example.test.."},
		{addr: "x@remote.test."},
		{addr: "x@.remote.test"},
		{addr: "x@[127.0.0.1]"},
		{addr: "x@[IPv6:::1]"},
		{addr: "x@[IPv6:::ffff:127.0.0.1]"},
		{addr: "x@[192.0.2.1]"},
		{addr: "bob@[127.0.0.1]"},
		{addr: "x@127.0.0.1"},
		{addr: "x@2130706433"},
		{addr: "x@localhost"},
		{addr: "x@mx.example.test"},
		{addr: "x@example.test.remote.test"},
		{addr: "x@remote.example.test"},
		{addr: "x@exampletest"},
		{addr: "x@example-test"},
		{addr: "x@example.tes"},
		{addr: "x@xample.test"},
		{addr: "x@example.test0"},
		{addr: "x@xn--exmple-cua.test"},
		{addr: "x@exämple.test", utf8: true},
		{addr: "x@remöte.test", utf8: true},
		{addr: "ü@remote.test", utf8: true},
		{addr: "x@ｒｅｍｏｔｅ.test", utf8: true},
		{addr: "x@remote。test", utf8: true},
		{addr: "x@remote.test\u200b", utf8: true},
		{addr: "x@remote.test\xfc"},
		{addr: "x@example.test\x00.remote.test"},
		{addr: "bob@example.test\x00@remote.test"},
		{addr: "x@remote.test\x00"},
		{addr: "x\x00@remote.test"},
		{addr: "x@remote.test\r"},
		{addr: "x@remote.test\x7f"},
		{addr: "x@remote.test "},
		{addr: " x@remote.test"},
		{addr: "x@remote.test,bob@example.test"},
		{addr: "bob@example.test,x@remote.test"},
		{addr: "x@remote.test;bob@example.test"},
		{addr: "x@remote.test%example.test"},
		{addr: long(65) + "@remote.test"},
		{addr: long(300) + "@remote.test"},
		{addr: "x@" + strings.Repeat(long(63)+".", 4) + "remote.test"},
		{addr: "x@" + long(1500) + ".remote.test"},
		{addr: ""},
		// Local mailboxes in their many spellings: the MX may accept
		// these, and stores them locally.
		{addr: "bob@example.test", local: true},
		{addr: "BOB@EXAMPLE.TEST", local: true},
		{addr: "bob+tag@example.test", local: true},
		{addr: `"bob"@example.test`, local: true},
		{addr: "@remote.test:bob@example.test", local: true},
		{addr: "bobalias@example.test", local: true},
		{addr: "postmaster@example.test", local: true},
		{addr: "Postmaster", local: true},
		{addr: "bob@ｅｘａｍｐｌｅ.test", local: true, utf8: true},
		{addr: "bob@example。test", local: true, utf8: true},
		{addr: "x@example.test"},
	}
	return forms
}

// foreignSenders are MAIL FROM arguments that alice does not own.
var foreignSenders = []string{
	"FROM:<bob@example.test>",
	"FROM:<BOB@EXAMPLE.TEST>",
	"FROM:<bob+x@example.test>",
	`FROM:<"bob"@example.test>`,
	"FROM:<bobalias@example.test>",
	"FROM:<postmaster@example.test>",
	"FROM:<x@remote.test>",
	"FROM:<alice@remote.test>",
	"FROM:<alice@example.test.remote.test>",
	"FROM:<alice%example.test@remote.test>",
	"FROM:<alice@example.test@remote.test>",
	`FROM:<"alice@example.test"@remote.test>`,
	"FROM:<alice@[127.0.0.1]>",
	"FROM:<alice@example.test.>",
	"FROM:<alice@exampletest>",
	"FROM:<alice@xn--exmple-cua.test>",
	"FROM:<>",
	"FROM:<@example.test:bob@example.test>",
	"FROM:<bob@example.test> AUTH=<alice@example.test>",
	"FROM:<bob@example.test> AUTH=alice@example.test",
	"FROM:<alice\x00@example.test>",
	"FROM:<bob@example.test\x00alice@example.test>",
	"FROM:bob@example.test",
	"FROM:<nobody@example.test>",
}

// relayProbes generates the table.
func relayProbes() []relayProbe {
	mxSenders := []string{"FROM:<s@example.net>", "FROM:<>", "FROM:<bob@example.test>", "FROM:<x@remote.test>",
		"FROM:<s@example.net> BODY=8BITMIME"}
	subSenders := []string{"FROM:<alice@example.test>", "FROM:<s@example.net>", "FROM:<bob@example.test>", "FROM:<>"}
	var probes []relayProbe
	add := func(mode, name string, steps ...relayStep) {
		probes = append(probes, relayProbe{mode: mode, name: name, steps: steps})
	}
	for i, f := range relayRcptForms() {
		variants := []string{""}
		if f.utf8 {
			variants = append(variants, " SMTPUTF8")
		}
		for _, v := range variants {
			rcpt := "RCPT TO:<" + f.addr + ">"
			name := fmt.Sprintf("%q%s", f.addr, v)
			add("mx", name, step("MAIL "+mxSenders[i%len(mxSenders)]+v, true), step(rcpt, f.local))
			add("submission", name, step("MAIL "+subSenders[i%len(subSenders)]+v), step(rcpt))
			add("submission-auth", name, step("MAIL "+foreignSenders[i%len(foreignSenders)]+v), step(rcpt))
		}
	}
	// Every foreign sender with a remote and a local recipient.
	for _, from := range foreignSenders {
		add("submission-auth", from+" to remote", step("MAIL "+from), step("RCPT TO:<x@remote.test>"))
		add("submission-auth", from+" to local", step("MAIL "+from), step("RCPT TO:<bob@example.test>"))
	}
	// Command syntax around a remote recipient.
	for _, rcpt := range []string{
		"RCPT TO:x@remote.test",
		"RCPT TO: <x@remote.test>",
		"rcpt to:<x@remote.test>",
		"RCPT  TO:<x@remote.test>",
		"RCPT TO:<x@remote.test> NOTIFY=NEVER",
		"RCPT TO:<x@remote.test> ORCPT=rfc822;bob@example.test",
		"RCPT TO:<<x@remote.test>>",
		"RCPT TO:<x@remote.test",
		"RCPT TO:x@remote.test>",
		"RCPT TO:<x@remote.test> <bob@example.test>",
		"RCPT TO:<bob@example.test>\nRCPT TO:<x@remote.test>",
		"RCPT TO:<bob@example.test>\rRCPT TO:<x@remote.test>",
		"RCPT TO:<x@remote.test>\x00RCPT TO:<bob@example.test>",
	} {
		for _, mode := range []string{"mx", "submission", "submission-auth"} {
			from := map[string]string{"mx": "FROM:<s@example.net>", "submission": "FROM:<alice@example.test>",
				"submission-auth": "FROM:<bob@example.test>"}[mode]
			ok := make([]bool, strings.Count(rcpt, "\n")+1)
			if mode == "mx" && strings.HasPrefix(rcpt, "RCPT TO:<bob@example.test>\n") {
				ok[0] = true
			}
			add(mode, fmt.Sprintf("%q", rcpt), step("MAIL "+from, mode == "mx"), step(rcpt, ok...))
		}
	}
	// Whole dialogs.
	add("mx", "RCPT before MAIL", step("RCPT TO:<x@remote.test>"), step("RCPT TO:<bob@example.test>"))
	add("submission", "RCPT before MAIL", step("RCPT TO:<x@remote.test>"))
	add("submission-auth", "RCPT before MAIL", step("RCPT TO:<x@remote.test>"))
	add("mx", "local then remote recipient", step("MAIL FROM:<s@example.net>", true),
		step("RCPT TO:<bob@example.test>", true), step("RCPT TO:<x@remote.test>"))
	add("mx", "pipelined in one write", step("MAIL FROM:<s@example.net>\r\nRCPT TO:<x@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA",
		true, false, true, true))
	add("mx", "HELO as a local name", step("HELO example.test", true), step("MAIL FROM:<bob@example.test>", true),
		step("RCPT TO:<x@remote.test>"))
	add("mx", "EHLO as loopback", step("EHLO [127.0.0.1]", true), step("MAIL FROM:<s@example.net>", true),
		step("RCPT TO:<x@remote.test>"))
	add("mx", "XCLIENT", step("XCLIENT ADDR=127.0.0.1 LOGIN=alice@example.test"), step("MAIL FROM:<s@example.net>", true),
		step("RCPT TO:<x@remote.test>"))
	add("mx", "XFORWARD", step("XFORWARD ADDR=127.0.0.1"), step("MAIL FROM:<s@example.net>", true),
		step("RCPT TO:<x@remote.test>"))
	add("mx", "AUTH on the MX", step("AUTH PLAIN "+plainToken("", "alice@example.test", "pw-alice")),
		step("MAIL FROM:<alice@example.test>", true), step("RCPT TO:<x@remote.test>"))
	add("mx", "MAIL with AUTH=", step("MAIL FROM:<alice@example.test> AUTH=alice@example.test", true),
		step("RCPT TO:<x@remote.test>"))
	add("mx", "SEND/SOML/SAML", step("SEND FROM:<s@example.net>"), step("SOML FROM:<s@example.net>"),
		step("SAML FROM:<s@example.net>"), step("RCPT TO:<x@remote.test>"))
	add("mx", "BDAT to a remote recipient", step("MAIL FROM:<s@example.net>", true), step("RCPT TO:<x@remote.test>"),
		relayStep{line: "BDAT 20 LAST\r\nSubject: bdat\r\n\r\nx", replies: 1})
	add("mx", "VRFY and EXPN", step("VRFY x@remote.test", true), step("EXPN bobalias@example.test"))
	add("mx", "second transaction after RSET", step("MAIL FROM:<s@example.net>", true),
		step("RCPT TO:<bob@example.test>", true), step("RSET", true), step("MAIL FROM:<s@example.net>", true),
		step("RCPT TO:<x@remote.test>"))
	add("submission", "failed AUTH then MAIL", step("AUTH PLAIN "+plainToken("", "alice@example.test", "wrong")),
		step("MAIL FROM:<alice@example.test>"), step("RCPT TO:<x@remote.test>"))
	add("submission", "AUTH PLAIN as bob for alice (authzid)",
		step("AUTH PLAIN "+plainToken("bob@example.test", "alice@example.test", "pw-alice")),
		step("MAIL FROM:<bob@example.test>"), step("RCPT TO:<x@remote.test>"))
	add("submission", "AUTH aborted", step("AUTH LOGIN", true), step("*"), step("MAIL FROM:<alice@example.test>"),
		step("RCPT TO:<x@remote.test>"))
	add("submission", "MAIL with AUTH=", step("MAIL FROM:<alice@example.test> AUTH=alice@example.test"),
		step("RCPT TO:<x@remote.test>"))
	add("submission", "XCLIENT", step("XCLIENT LOGIN=alice@example.test"), step("MAIL FROM:<alice@example.test>"),
		step("RCPT TO:<x@remote.test>"))
	add("submission-auth", "foreign sender after an own transaction", step("MAIL FROM:<alice@example.test>", true),
		step("RSET", true), step("MAIL FROM:<bob@example.test>"), step("RCPT TO:<x@remote.test>"))
	add("submission-auth", "second MAIL without RSET", step("MAIL FROM:<alice@example.test>", true),
		step("MAIL FROM:<bob@example.test>"), step("RCPT TO:<x@remote.test>"))
	add("submission-auth", "second AUTH as bob with a wrong password",
		step("AUTH PLAIN "+plainToken("", "bob@example.test", "pw-alice")), step("MAIL FROM:<bob@example.test>"),
		step("RCPT TO:<x@remote.test>"))
	return probes
}

// relayProber holds one connection of a mode, reconnecting after a probe
// that broke it.
type relayProber struct {
	addr, user, pass string
	c                *rawSMTP
}

type relayResult struct {
	replies       []string
	violations    []string
	acceptedLocal int
}

func (p *relayProber) close() {
	if p.c != nil {
		p.c.cmd("QUIT")
		p.c.close()
		p.c = nil
	}
}

func (p *relayProber) run(t *testing.T, i int, pr relayProbe) relayResult {
	t.Helper()
	var res relayResult
	if p.c == nil {
		c, err := dialRawSMTPHello(p.addr, p.user, p.pass)
		if err != nil {
			t.Fatalf("probe %d [%s] %s: connecting: %v", i, pr.mode, pr.name, err)
		}
		p.c = c
	}
	c := p.c
	broken := func(err error) relayResult {
		res.replies = append(res.replies, "connection: "+err.Error())
		c.close()
		p.c = nil
		return res
	}
	local := false // a local recipient was accepted: DATA may go ahead
	check := func(cmd string, r smtpReply, ok bool) {
		res.replies = append(res.replies, r.String())
		if r.positive() && !ok {
			res.violations = append(res.violations, fmt.Sprintf("probe %d [%s] %s: %q got %v", i, pr.mode, pr.name, cmd, r))
		}
		if r.positive() && ok && strings.HasPrefix(strings.ToUpper(cmd), "RCPT") {
			local = true
			res.acceptedLocal++
		}
	}
	data := func(ok bool) error {
		msg := fmt.Sprintf("Subject: relay probe %d\r\nMessage-ID: <relay-probe-%d@probe.example.net>\r\n\r\nprobe\r\n.\r\n", i, i)
		if err := c.write(msg); err != nil {
			return err
		}
		r, err := c.read()
		if err != nil {
			return err
		}
		check("end of data", r, ok)
		return nil
	}
	for _, s := range pr.steps {
		if err := c.write(s.line + "\r\n"); err != nil {
			return broken(err)
		}
		cmds := strings.Split(s.line, "\n")
		if s.replies > 0 {
			cmds = cmds[:s.replies]
		}
		var last smtpReply
		for j, cmd := range cmds {
			r, err := c.read()
			if err != nil {
				return broken(err)
			}
			check(cmd, r, j < len(s.ok) && s.ok[j])
			last = r
		}
		if last.Code == 354 {
			if err := data(local); err != nil {
				return broken(err)
			}
		}
	}
	r, err := c.cmd("DATA")
	if err != nil {
		return broken(err)
	}
	check("DATA", r, local)
	if r.Code == 354 {
		if err := data(local); err != nil {
			return broken(err)
		}
	}
	if r, err := c.cmd("RSET"); err != nil || r.Code != 250 {
		c.close()
		p.c = nil
	}
	return res
}
