package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smuggleVariant is one end-of-data lookalike. The probe message is
// "...last line" + end + a would-be second transaction + the real end.
//
// A genuine end is one that RFC 5321 4.1.1.4 says ends the data: CRLF .
// CRLF, where the first CRLF may be that of the DATA line itself. After a
// genuine end the rest is the client's own next transaction, so those
// variants label it "pipelined" instead of "smuggled": a server that
// stores it is right. Every other variant must never let the rest run as
// commands.
type smuggleVariant struct {
	name    string
	end     string // the lookalike, sent right after "last line"
	atStart bool   // the lookalike is the very first thing after DATA
	genuine bool
	bdat    []string // BDAT chunks instead of DATA; the smuggle block follows end in the last one
}

func smuggleVariants() []smuggleVariant {
	return []smuggleVariant{
		{name: `\n.\n`, end: "\n.\n"},
		{name: `\r.\r`, end: "\r.\r"},
		{name: `\r\n.\n`, end: "\r\n.\n"},
		{name: `\n.\r\n`, end: "\n.\r\n"},
		{name: `\r\n.\r`, end: "\r\n.\r"},
		{name: `\r.\r\n`, end: "\r.\r\n"},
		{name: `\n.\r`, end: "\n.\r"},
		{name: `\r\n.\r\r\n`, end: "\r\n.\r\r\n"},
		{name: `\r\n\x00.\r\n`, end: "\r\n\x00.\r\n"},
		{name: `\r\n.\x00\r\n`, end: "\r\n.\x00\r\n"},
		{name: `\r\n..\r\n (dot-stuffed)`, end: "\r\n..\r\n"},
		{name: `\r\n. \r\n`, end: "\r\n. \r\n"},
		{name: `\n\n.\n\n`, end: "\n\n.\n\n"},
		{name: `\r\n.\n\r\n`, end: "\r\n.\n\r\n"},
		{name: `.\n at the very start`, end: ".\n", atStart: true},
		{name: `\r\r\n.\r\n (genuine: contains CRLF.CRLF)`, end: "\r\r\n.\r\n", genuine: true},
		{name: `.\r\n at the very start (genuine: ends an empty message)`, end: ".\r\n", atStart: true, genuine: true},
		{name: `BDAT LAST with \r\n.\r\n inside`, end: "\r\n.\r\n", bdat: []string{""}},
		{name: `BDAT chunks split after \r\n.\r\n`, end: "\r\n.\r\n", bdat: []string{"", ""}},
		{name: `BDAT chunks split inside \r\n.\r\n`, end: "\r\n.", bdat: []string{"", "\r\n"}},
		{name: `BDAT LAST with \n.\n inside`, end: "\n.\n", bdat: []string{""}},
	}
}

// TestHostileSmuggling sends the MX messages whose bodies hold an
// end-of-data lookalike followed by a second transaction to bob (SMTP
// smuggling) and checks that the second transaction never runs: bob never
// gets a message whose own Subject is "smuggled", the server never
// answers the smuggled commands, and no stored message contains a bare CR
// or LF. The replies are logged, not asserted: refusing such a message
// (550 5.6.0) and storing it whole are both safe.
func TestHostileSmuggling(t *testing.T) {
	t.Parallel()
	sink := startCountingSink(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, dataDir, func(c *Config) { c.Relay.Smarthost = sink.addr })
	mustCLI(t, "pw-bobby1\n", "user", "add", "bob@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)

	variants := smuggleVariants()
	start := time.Now()
	smuggled := map[int]bool{} // variants that ran the smuggled transaction or stored its header as the message's own
	for i, v := range variants {
		replies, wantReplies, err := sendSmuggleProbe(srv.addrs["smtp"], i, v)
		var shown []string
		for _, r := range replies {
			shown = append(shown, r.String())
		}
		if err != nil {
			shown = append(shown, "error: "+err.Error())
		}
		t.Logf("variant %d %s: %s", i, v.name, strings.Join(shown, " / "))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("variant %d %s: no reply within %v: the server is still reading the message", i, v.name, probeTimeout)
		}
		if !v.genuine && len(replies) > wantReplies {
			smuggled[i] = true
			t.Errorf("variant %d %s: %d replies to the message, want at most %d: the smuggled commands ran",
				i, v.name, len(replies), wantReplies)
		}
	}
	elapsed := time.Since(start)
	srv.stop(t)

	db, _ := openDataDir(t, dataDir)
	msgs := allMessages(t, db, "bob@example.test")
	bare := map[int]bool{}
	pipelined := map[int]bool{}
	for box, list := range msgs {
		for _, m := range list {
			id := headerField(m, "Message-ID")
			var variant int
			kind := ""
			if m := probeIDRE.FindStringSubmatch(id); m != nil {
				kind = m[1]
				variant, _ = strconv.Atoi(m[2])
			}
			switch {
			case headerField(m, "Return-Path") == "<smuggled@x.test>":
				// Only the smuggled MAIL FROM names this sender, and the
				// server writes it first as the Return-Path.
				smuggled[variant] = true
				t.Errorf("bob's %s has a message from a smuggled transaction %s:\n%q", box, id, m)
			case headerField(m, "Subject") == "smuggled":
				// Not a second transaction, but a reader that takes only
				// CRLF as a line end sees the smuggled header as the
				// message's own.
				smuggled[variant] = true
				t.Errorf("bob's %s has a message whose own Subject is the smuggled one (%s):\n%q", box, id, m)
			case kind == "pipelined":
				pipelined[variant] = true
			}
			if i := bareLineEnding(m); i >= 0 {
				bare[variant] = true
				t.Errorf("bob's %s has message %s with a bare CR or LF at offset %d: %q", box, id, i,
					m[max(0, i-20):min(len(m), i+20)])
			}
		}
	}
	for i, v := range variants {
		if v.genuine {
			t.Logf("variant %d %s: the pipelined transaction after the genuine end was stored: %v", i, v.name, pipelined[i])
		}
	}
	if n := len(sink.rcpts()); n != 0 {
		t.Errorf("the smarthost saw %d recipients", n)
	}
	t.Logf("smuggling: %d variants, %d smuggled (%d stored a bare CR or LF) in %v",
		len(variants), len(smuggled), len(bare), elapsed.Round(time.Millisecond))
}

// probeIDRE finds the variant in the Message-ID of a probe message, of
// its smuggled part or of its pipelined follow-up.
var probeIDRE = regexp.MustCompile(`^<(smuggle|smuggled|pipelined)-(\d+)@probe\.example\.net>$`)

// sendSmuggleProbe sends one variant on a fresh connection and returns
// the replies that came after the message was sent (QUIT's 221 left out)
// and how many replies a server that does not split the message gives.
func sendSmuggleProbe(addr string, i int, v smuggleVariant) ([]smtpReply, int, error) {
	c, err := dialRawSMTPHello(addr, "", "")
	if err != nil {
		return nil, 0, err
	}
	defer c.close()
	label := "smuggled"
	if v.genuine {
		label = "pipelined"
	}
	second := fmt.Sprintf("MAIL FROM:<%s@x.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"+
		"Subject: %s\r\nMessage-ID: <%s-%d@probe.example.net>\r\n\r\n%s\r\n", label, label, label, i, label)
	head := fmt.Sprintf("Subject: smuggle probe %d\r\nMessage-ID: <smuggle-%d@probe.example.net>\r\n\r\nfirst line\r\nlast line", i, i)

	for _, cmd := range []string{"MAIL FROM:<s@example.net>", "RCPT TO:<bob@example.test>"} {
		if r, err := c.cmd(cmd); err != nil || r.Code != 250 {
			return nil, 0, fmt.Errorf("%s: %v %v", cmd, r, err)
		}
	}
	var payload string
	want := 1
	if v.bdat == nil {
		if r, err := c.cmd("DATA"); err != nil || r.Code != 354 {
			return nil, 0, fmt.Errorf("DATA: %v %v", r, err)
		}
		if v.atStart {
			payload = v.end + second + ".\r\n"
		} else {
			payload = head + v.end + second + ".\r\n"
		}
	} else {
		// The chunks: head + end [+ chunk0] ..., then the smuggle block
		// and the real end of a DATA transfer in the last chunk, which
		// BDAT (RFC 3030) must store as they are.
		chunks := []string{head + v.end + v.bdat[0]}
		chunks = append(chunks, v.bdat[1:]...)
		chunks[len(chunks)-1] += second + ".\r\n"
		for j, ch := range chunks {
			last := ""
			if j == len(chunks)-1 {
				last = " LAST"
			}
			payload += fmt.Sprintf("BDAT %d%s\r\n%s", len(ch), last, ch)
		}
		want = len(chunks)
	}
	if err := c.write(payload + "QUIT\r\n"); err != nil {
		return nil, want, err
	}
	var replies []smtpReply
	for {
		r, err := c.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset") {
				return replies, want, nil
			}
			return replies, want, err
		}
		if r.Code == 221 {
			return replies, want, nil
		}
		replies = append(replies, r)
	}
}
