package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/store"
)

// The hostile tests speak SMTP and IMAP by hand where the point is input
// that a library client refuses to send (CR, LF or NUL inside a command,
// a path without brackets, an odd mailbox name as an atom). Every read
// and write has a deadline, so that a server that stops answering fails
// one probe instead of hanging the test.

// probeTimeout bounds one exchange of a hand-driven dialog. Everything
// runs on loopback, so a healthy reply takes milliseconds.
const probeTimeout = 10 * time.Second

// smtpReply is one (possibly multi-line) SMTP reply.
type smtpReply struct {
	Code int
	Text string // the lines' texts joined by " | "
}

func (r smtpReply) String() string { return fmt.Sprintf("%d %s", r.Code, r.Text) }

// positive reports a 2xx or 3xx reply.
func (r smtpReply) positive() bool { return r.Code >= 200 && r.Code < 400 }

// rawSMTP is a hand-driven SMTP client connection.
type rawSMTP struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialRawSMTP connects and reads the greeting.
func dialRawSMTP(addr string) (*rawSMTP, error) {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return nil, err
	}
	c := &rawSMTP{conn: conn, r: bufio.NewReader(conn)}
	greet, err := c.read()
	if err != nil || greet.Code != 220 {
		conn.Close()
		return nil, fmt.Errorf("greeting %v: %v", greet, err)
	}
	return c, nil
}

// dialRawSMTPHello connects, says EHLO and, when user is not empty, logs
// in with AUTH PLAIN.
func dialRawSMTPHello(addr, user, pass string) (*rawSMTP, error) {
	c, err := dialRawSMTP(addr)
	if err != nil {
		return nil, err
	}
	if r, err := c.cmd("EHLO probe.example.net"); err != nil || r.Code != 250 {
		c.close()
		return nil, fmt.Errorf("EHLO: %v %v", r, err)
	}
	if user != "" {
		tok := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
		if r, err := c.cmd("AUTH PLAIN " + tok); err != nil || r.Code != 235 {
			c.close()
			return nil, fmt.Errorf("AUTH: %v %v", r, err)
		}
	}
	return c, nil
}

// write sends raw bytes.
func (c *rawSMTP) write(s string) error {
	c.conn.SetWriteDeadline(time.Now().Add(probeTimeout))
	_, err := io.WriteString(c.conn, s)
	return err
}

// read reads one reply.
func (c *rawSMTP) read() (smtpReply, error) {
	c.conn.SetReadDeadline(time.Now().Add(probeTimeout))
	var texts []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return smtpReply{}, err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return smtpReply{}, fmt.Errorf("malformed reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			return smtpReply{}, fmt.Errorf("malformed reply line %q", line)
		}
		if len(line) > 4 {
			texts = append(texts, line[4:])
		}
		if len(line) == 3 || line[3] == ' ' {
			return smtpReply{Code: code, Text: strings.Join(texts, " | ")}, nil
		}
	}
}

// cmd sends one command line (CRLF added) and reads its reply.
func (c *rawSMTP) cmd(line string) (smtpReply, error) {
	if err := c.write(line + "\r\n"); err != nil {
		return smtpReply{}, err
	}
	return c.read()
}

func (c *rawSMTP) close() { c.conn.Close() }

// rawIMAP is a hand-driven IMAP client connection; every byte the server
// sends is also copied to seen.
type rawIMAP struct {
	conn net.Conn
	r    *bufio.Reader
	tag  int
}

// newRawIMAP wraps a connection; reads are copied to seen.
func newRawIMAP(conn net.Conn, seen io.Writer) *rawIMAP {
	return &rawIMAP{conn: conn, r: bufio.NewReader(io.TeeReader(conn, seen))}
}

// dialRawIMAP connects, reads the greeting and logs in.
func dialRawIMAP(addr, user, pass string, seen io.Writer) (*rawIMAP, error) {
	c, err := dialRawIMAPAnon(addr, nil, seen)
	if err != nil {
		return nil, err
	}
	if _, st, err := c.cmd(fmt.Sprintf("LOGIN %s %s", imapQuote(user), imapQuote(pass))); err != nil || !strings.HasPrefix(st, "OK") {
		c.close()
		return nil, fmt.Errorf("LOGIN: %s %v", st, err)
	}
	return c, nil
}

// readLine reads one response line, literals included.
func (c *rawIMAP) readLine() (string, error) {
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		b.WriteString(line)
		t := strings.TrimRight(line, "\r\n")
		if !strings.HasSuffix(t, "}") {
			return strings.TrimRight(b.String(), "\r\n"), nil
		}
		i := strings.LastIndexByte(t, '{')
		n, err := strconv.Atoi(strings.TrimSuffix(t[i+1:len(t)-1], "+"))
		if i < 0 || err != nil {
			return strings.TrimRight(b.String(), "\r\n"), nil
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(c.r, lit); err != nil {
			return b.String(), err
		}
		b.Write(lit)
	}
}

// cmd sends a command with a fresh tag and returns the untagged lines and
// the tagged status ("OK ...", "NO ...", "BAD ..."). A command may
// contain LITERAL+ literals ({n+}); a server that asks for continuation
// gets the rest at once.
func (c *rawIMAP) cmd(command string) ([]string, string, error) {
	c.tag++
	tag := fmt.Sprintf("P%d", c.tag)
	c.conn.SetDeadline(time.Now().Add(probeTimeout))
	if _, err := io.WriteString(c.conn, tag+" "+command+"\r\n"); err != nil {
		return nil, "", err
	}
	var untagged []string
	for {
		line, err := c.readLine()
		if err != nil {
			return untagged, "", err
		}
		switch {
		case strings.HasPrefix(line, tag+" "):
			return untagged, line[len(tag)+1:], nil
		case strings.HasPrefix(line, "* BYE"):
			untagged = append(untagged, line)
		default:
			untagged = append(untagged, line)
		}
	}
}

func (c *rawIMAP) close() { c.conn.Close() }

// imapQuote writes s as an IMAP quoted string when it can be one, else
// as a LITERAL+ literal.
func imapQuote(s string) string {
	if strings.ContainsAny(s, "\r\n\x00") || !isASCIIPrintable(s) {
		return fmt.Sprintf("{%d+}\r\n%s", len(s), s)
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func isASCIIPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// readTee counts the bytes a client received, for checking that no
// secret of another account ever reached it.
type readTee struct {
	net.Conn
	w io.Writer
}

func (r readTee) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.w.Write(p[:n])
	return n, err
}

// accountState is everything of one account that another account must
// not be able to change: its mailboxes and, per message, UID, flags,
// keywords, mod-sequence and content.
type accountState struct {
	Mailboxes []store.Mailbox
	Messages  map[string][]string // mailbox name → one line per message
}

// snapshotAccount reads an account's state from a stopped server's
// store.
func snapshotAccount(t *testing.T, db store.Store, address string) accountState {
	t.Helper()
	ctx := context.Background()
	acct, err := db.AccountByAddress(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	mbs, err := db.Mailboxes(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	st := accountState{Mailboxes: mbs, Messages: map[string][]string{}}
	for _, mb := range mbs {
		msgs, err := db.Messages(ctx, mb.ID, 1, ^uint32(0), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			data, err := db.BlobData(ctx, m.BlobID)
			if err != nil {
				t.Fatal(err)
			}
			kw := slices.Clone(m.Keywords)
			slices.Sort(kw)
			st.Messages[mb.Name] = append(st.Messages[mb.Name], fmt.Sprintf("uid=%d modseq=%d flags=%d keywords=%v size=%d sha256=%x",
				m.UID, m.ModSeq, m.Flags, kw, m.Size, sha256.Sum256(data)))
		}
	}
	return st
}

// diff describes how two states differ, or returns "".
func (a accountState) diff(b accountState) string {
	var out []string
	if !slices.Equal(a.Mailboxes, b.Mailboxes) {
		out = append(out, fmt.Sprintf("mailboxes %+v\n  became %+v", a.Mailboxes, b.Mailboxes))
	}
	names := map[string]bool{}
	for n := range a.Messages {
		names[n] = true
	}
	for n := range b.Messages {
		names[n] = true
	}
	for n := range names {
		if !slices.Equal(a.Messages[n], b.Messages[n]) {
			out = append(out, fmt.Sprintf("%s: %q\n  became %q", n, a.Messages[n], b.Messages[n]))
		}
	}
	return strings.Join(out, "\n")
}

// allMessages returns the content of every stored message of an account,
// by mailbox name.
func allMessages(t *testing.T, db store.Store, address string) map[string][][]byte {
	t.Helper()
	ctx := context.Background()
	acct, err := db.AccountByAddress(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	mbs, err := db.Mailboxes(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	for _, mb := range mbs {
		msgs, err := db.Messages(ctx, mb.ID, 1, ^uint32(0), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			data, err := db.BlobData(ctx, m.BlobID)
			if err != nil {
				t.Fatal(err)
			}
			out[mb.Name] = append(out[mb.Name], data)
		}
	}
	return out
}

// bareLineEnding returns the offset of the first CR not followed by LF or
// LF not preceded by CR in b, or -1.
func bareLineEnding(b []byte) int {
	for i, c := range b {
		switch {
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			return i
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return i
		}
	}
	return -1
}

// headerField returns the first header field of a message with the
// given name (case-insensitive), unfolded, or "" if there is none.
func headerField(msg []byte, name string) string {
	hdr := msg
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		hdr = msg[:i+2]
	}
	lines := strings.Split(string(hdr), "\r\n")
	for i, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), name) {
			continue
		}
		for _, cont := range lines[i+1:] {
			if cont == "" || (cont[0] != ' ' && cont[0] != '\t') {
				break
			}
			v += cont
		}
		return strings.TrimSpace(v)
	}
	return ""
}

// countingSink is the smarthost of the hostile tests: a go-smtp server on
// loopback that accepts everything, never blocks, and counts the
// recipients it was offered.
type countingSink struct {
	addr string

	mu      sync.Mutex
	count   map[string]int
	arrived map[string]chan struct{} // closed at a recipient's first DATA
}

func startCountingSink(t *testing.T) *countingSink {
	t.Helper()
	s := &countingSink{count: map[string]int{}, arrived: map[string]chan struct{}{}}
	s.addr = serveSink(t, func() gosmtp.Session { return &countingSession{s: s} }, nil)
	return s
}

func (s *countingSink) arrival(rcpt string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.arrived[rcpt] == nil {
		s.arrived[rcpt] = make(chan struct{})
	}
	return s.arrived[rcpt]
}

// wait reports whether a message for rcpt arrives within limit.
func (s *countingSink) wait(rcpt string, limit time.Duration) bool {
	select {
	case <-s.arrival(rcpt):
		return true
	case <-time.After(limit):
		return false
	}
}

// rcpts returns how often each recipient was offered.
func (s *countingSink) rcpts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.count)
}

type countingSession struct {
	s     *countingSink
	rcpts []string
}

func (cs *countingSession) Reset()                                 { cs.rcpts = nil }
func (cs *countingSession) Logout() error                          { return nil }
func (cs *countingSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (cs *countingSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	cs.s.mu.Lock()
	cs.s.count[to]++
	cs.s.mu.Unlock()
	cs.rcpts = append(cs.rcpts, to)
	return nil
}

func (cs *countingSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	for _, rcpt := range cs.rcpts {
		ch := cs.s.arrival(rcpt)
		cs.s.mu.Lock()
		select {
		case <-ch:
		default:
			close(ch)
		}
		cs.s.mu.Unlock()
	}
	return nil
}
