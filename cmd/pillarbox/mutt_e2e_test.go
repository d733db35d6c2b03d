package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// muttLimit bounds one mutt conversation as a whole, from its start to
// its exit: every wait for the screen draws on it. A run takes a few
// seconds; the rest is room for a loaded machine.
const muttLimit = 40 * time.Second

// TestMuttEndToEnd reads mail with mutt, a terminal client, driven
// through tmux: the index with mutt's N flags, a message opened, one
// deleted and expunged, new mail arriving while mutt is open, and the
// flags mutt leaves on the server when it quits. Mutt finds new mail
// either by polling with NOOP (its default) or in IDLE; each way has its
// own server and its own tmux server. Skipped without mutt or tmux.
func TestMuttEndToEnd(t *testing.T) {
	t.Parallel()
	mutt, err := exec.LookPath("mutt")
	if err != nil {
		t.Skip("mutt not installed")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed")
	}
	for _, idle := range []bool{false, true} {
		name := "noop"
		if idle {
			name = "idle"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testMutt(t, mutt, tmux, idle)
		})
	}
}

func testMutt(t *testing.T, mutt, tmux string, idle bool) {
	dir := t.TempDir()
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) {
		c.IMAP.Listen = "127.0.0.1:0"
	})
	const user, pass = "alice@example.test", "pw-alice-mutt"
	mustCLI(t, pass+"\n", "user", "add", user, "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)
	smtpAddr, imapAddr := srv.addrs["smtp"], srv.addrs["imap"]
	if smtpAddr == "" || imapAddr == "" {
		t.Fatalf("listeners %v; log:\n%s", srv.addrs, srv.log())
	}

	// Dates an hour apart, so that mutt's sort by date gives one order
	// (without a Date header mutt falls back to INTERNALDATE, whose
	// seconds can tie).
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Hour)
	for i, s := range []string{"alpha", "bravo", "charlie"} {
		smtpSendDated(t, smtpAddr, user, s+" mail", base.Add(time.Duration(i)*time.Hour))
	}

	m := startMutt(t, mutt, tmux, imapAddr, user, pass, idle)
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.log())
		}
	}()

	// The index: the three messages in date order, all new. Mutt shows N
	// for a message without \Seen (and without its own keyword Old).
	m.waitIndex("the three messages, new", func(rows []muttRow) bool {
		return rowsAre(rows, "N  alpha mail", "N  bravo mail", "N  charlie mail")
	})
	m.wait("the status line", func(s string) bool { return strings.Contains(s, "[Msgs:3 New:3 ") })
	// The first session to select INBOX gets the messages as \Recent.
	if got := m.sentBeforeLast("* 3 RECENT"); got != "SELECT" {
		m.fail("SELECT's RECENT: got * 3 RECENT after %q, want after SELECT", got)
	}

	// Open the first: the pager shows its headers and body.
	m.jump(1)
	m.keys("Enter")
	m.wait("the body of alpha", func(s string) bool {
		return strings.Contains(s, "Subject: alpha mail") && strings.Contains(s, "This is the body of alpha mail.")
	})
	m.keys("i") // back to the index
	m.waitIndex("alpha read", func(rows []muttRow) bool {
		return rowsAre(rows, "   alpha mail", "N  bravo mail", "N  charlie mail")
	})

	// Delete the second and sync: mutt stores \Seen and \Deleted, then
	// EXPUNGEs.
	m.jump(2)
	m.keys("d")
	m.waitIndex("bravo marked deleted", func(rows []muttRow) bool {
		return rowsAre(rows, "   alpha mail", "ND bravo mail", "N  charlie mail")
	})
	m.keys("$")
	m.wait("the purge question", func(s string) bool { return strings.Contains(s, "Purge 1 deleted message?") })
	m.keys("y")
	m.waitIndex("bravo gone", func(rows []muttRow) bool {
		return rowsAre(rows, "   alpha mail", "N  charlie mail")
	})

	// What the server holds now, seen by another client (EXAMINE, so as
	// not to disturb \Recent or flags).
	ic := muttCheckClient(t, imapAddr, user, pass)
	if got := inboxState(t, ic); !slices.Equal(got, []string{`alpha mail [\Seen]`, `charlie mail []`}) {
		t.Fatalf("INBOX after mutt's sync: %q", got)
	}

	// New mail while mutt is open: it shows up, new, after mutt's next
	// NOOP or in its IDLE.
	smtpSendDated(t, smtpAddr, user, "delta mail", base.Add(3*time.Hour))
	m.waitIndex("the new message", func(rows []muttRow) bool {
		return rowsAre(rows, "   alpha mail", "N  charlie mail", "N  delta mail")
	})
	// And it came the way asked for: the server's latest "* 3 EXISTS"
	// (the first was SELECT's) answered mutt's NOOP, or was pushed while
	// mutt sat in IDLE.
	want := map[bool]string{false: "NOOP", true: "IDLE"}[idle]
	if got := m.sentBeforeLast("* 3 EXISTS"); got != want {
		m.fail("the new message's EXISTS came after mutt's %q, want %s", got, want)
	}

	// Quit. Leaving the folder, mutt marks the unread messages Old
	// ($mark_old) with a keyword the server keeps.
	m.keys("q")
	m.waitExit()
	if got := inboxState(t, ic); !slices.Equal(got, []string{`alpha mail [\Seen]`, `charlie mail [Old]`, `delta mail [Old]`}) {
		t.Errorf("INBOX after mutt quit: %q", got)
	}

	// A second start shows them old (O), the keyword read back.
	m = startMutt(t, mutt, tmux, imapAddr, user, pass, idle)
	m.waitIndex("the messages, old", func(rows []muttRow) bool {
		return rowsAre(rows, "   alpha mail", "O  charlie mail", "O  delta mail")
	})
	// And none is \Recent any more: the first session had them.
	if got := m.sentBeforeLast("* 0 RECENT"); got != "SELECT" {
		m.fail("SELECT's RECENT in a second session: got * 0 RECENT after %q, want after SELECT", got)
	}
	m.keys("q")
	m.waitExit()
}

// muttCheckClient logs in with imapclient, beside mutt.
func muttCheckClient(t *testing.T, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// inboxState returns "subject [flags]" for each message in INBOX, in
// UID order, read in a fresh EXAMINE.
func inboxState(t *testing.T, c *imapclient.Client) []string {
	t.Helper()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%s %v", m.Envelope.Subject, m.Flags))
	}
	return out
}

// muttTerm is mutt running in a detached tmux session on a tmux server
// of its own, with its own socket.
type muttTerm struct {
	t        *testing.T
	tmux     string
	sock     string // the tmux server's socket (-S)
	home     string
	deadline time.Time
}

// startMutt writes a muttrc for user on the IMAP listener at addr and
// starts mutt in a new tmux server, 200x50. The tmux server is killed
// when the test ends.
func startMutt(t *testing.T, mutt, tmux, addr, user, pass string, idle bool) *muttTerm {
	t.Helper()
	home := t.TempDir()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	// Every setting that could read or write outside home, wait on the
	// network or ask a question is pinned here; -n skips the system
	// muttrc.
	rc := fmt.Sprintf(`set hostname="client.example.test"
set folder="imap://%s:%s/"
set spoolfile="+INBOX"
set imap_user="%s"
set imap_pass="%s"
set ssl_starttls=no
set ssl_force_tls=no
set imap_check_subscribed=no
set imap_idle=%s
set mail_check=1
set timeout=1
set sleep_time=0
set sort=date
set index_format="%%4C [%%Z] %%s"
unset header_cache
unset message_cachedir
set tmpdir="%s"
set record=""
set move=no
set beep=no
set wait_key=no
`, host, port, user, pass, map[bool]string{false: "no", true: "yes"}[idle], home)
	rcPath := filepath.Join(home, "muttrc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	// mutt's exit status goes to a file: the tmux session ends with it.
	script := filepath.Join(home, "run.sh")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
"$1" -n -F "$HOME/muttrc" -d 2
echo $? >"$HOME/status"
`), 0o700); err != nil {
		t.Fatal(err)
	}
	m := &muttTerm{t: t, tmux: tmux, home: home, deadline: time.Now().Add(muttLimit),
		sock: muttSocket(t, home)}
	t.Cleanup(func() { m.tmuxCmd("kill-server") })
	if _, err := m.tmuxCmd("-f", "/dev/null", "new-session", "-d", "-s", "mutt", "-x", "200", "-y", "50", "/bin/sh", script, mutt); err != nil {
		t.Fatal(err)
	}
	return m
}

// muttSocket returns the path of a tmux server's socket in dir, which
// goes with the test's temporary files (tmux leaves a socket named with
// -L behind in /tmp/tmux-UID). A socket's path has a limit near 100
// bytes: if dir is too deep, the socket goes in a short directory of
// its own.
func muttSocket(t *testing.T, dir string) string {
	t.Helper()
	if p := filepath.Join(dir, "tmux"); len(p) < 100 {
		return p
	}
	short, err := os.MkdirTemp("/tmp", "pbmutt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	return filepath.Join(short, "tmux")
}

// tmuxCmd runs tmux on this server. The server, started by the first
// call, passes this environment on to mutt: HOME is the test's, and
// nothing of the caller's mail or tmux setup (MAIL, MUTT, TMUX) leaks
// in.
func (m *muttTerm) tmuxCmd(args ...string) (string, error) {
	cmd := exec.Command(m.tmux, append([]string{"-S", m.sock}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + m.home, "TERM=xterm-256color", "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// screen returns the visible screen, or "" once the session is gone.
func (m *muttTerm) screen() string {
	out, err := m.tmuxCmd("capture-pane", "-p", "-t", "mutt")
	if err != nil {
		return ""
	}
	return out
}

// keys sends keys to mutt: tmux key names (Enter) or single characters.
func (m *muttTerm) keys(keys ...string) {
	m.t.Helper()
	for _, k := range keys {
		args := []string{"send-keys", "-t", "mutt", k}
		if len(k) == 1 {
			args = []string{"send-keys", "-t", "mutt", "-l", k}
		}
		if _, err := m.tmuxCmd(args...); err != nil {
			m.fail("sending %q: %v", k, err)
		}
	}
}

// jump moves the cursor to message n through mutt's jump prompt.
func (m *muttTerm) jump(n int) {
	m.t.Helper()
	m.keys(fmt.Sprint(n))
	m.wait("the jump prompt", func(s string) bool { return strings.Contains(s, fmt.Sprintf("Jump to message: %d", n)) })
	m.keys("Enter")
}

// wait polls the screen until ok holds. Mutt is another process, so
// there is nothing to wait on but its screen.
func (m *muttTerm) wait(what string, ok func(screen string) bool) string {
	m.t.Helper()
	for {
		s := m.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(m.deadline) {
			m.fail("mutt: waited %v in all for %s; screen (blank lines left out):\n%s", muttLimit, what, nonBlank(s))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// muttRow is one line of mutt's index: its status flags (%Z, three
// columns) and subject.
type muttRow struct{ flags, subject string }

var muttRowRE = regexp.MustCompile(`^\s*\d+ \[(...)\] (.*?)\s*$`)

// waitIndex polls until the index rows satisfy ok.
func (m *muttTerm) waitIndex(what string, ok func([]muttRow) bool) {
	m.t.Helper()
	m.wait(what, func(s string) bool {
		var rows []muttRow
		for _, l := range strings.Split(s, "\n") {
			if r := muttRowRE.FindStringSubmatch(l); r != nil {
				rows = append(rows, muttRow{r[1], r[2]})
			}
		}
		return ok(rows)
	})
}

// rowsAre reports whether rows are exactly want, each "XY subject": the
// first two flag columns (N new, O old, space read; D deleted), a space,
// the subject. The third column says whether the mail is addressed to
// the user, which depends on the machine's user name, not the server.
func rowsAre(rows []muttRow, want ...string) bool {
	if len(rows) != len(want) {
		return false
	}
	for i, r := range rows {
		if r.flags[:2] != want[i][:2] || r.subject != want[i][3:] {
			return false
		}
	}
	return true
}

// waitExit waits for mutt to exit and the tmux session to end, and
// checks mutt's exit status.
func (m *muttTerm) waitExit() {
	m.t.Helper()
	for {
		if _, err := m.tmuxCmd("has-session", "-t", "mutt"); err != nil {
			break
		}
		if time.Now().After(m.deadline) {
			m.fail("mutt still running after %v; screen (blank lines left out):\n%s", muttLimit, nonBlank(m.screen()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	status, err := os.ReadFile(filepath.Join(m.home, "status"))
	if err != nil || strings.TrimSpace(string(status)) != "0" {
		m.fail("mutt exited with status %q (%v)", status, err)
	}
}

// nonBlank drops a screen's blank lines.
func nonBlank(screen string) string {
	var out []string
	for _, l := range strings.Split(screen, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// dialogue returns the IMAP lines of mutt's debug log (level 2: commands
// and responses, without literals), "4> a0007 NOOP", "4< * 3 EXISTS".
func (m *muttTerm) dialogue() []string {
	log, _ := os.ReadFile(filepath.Join(m.home, ".muttdebug0"))
	var lines []string
	for _, l := range strings.Split(string(log), "\n") {
		if muttIMAPLineRE.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return lines
}

var muttIMAPLineRE = regexp.MustCompile(`^\[[^]]*\] \d+[<>] `)

// muttSentRE finds the command of a line mutt sent: "a0007 NOOP", "DONE".
var muttSentRE = regexp.MustCompile(`^\[[^]]*\] \d+> (?:a\d+ )?(\S+)`)

// sentBeforeLast returns the command mutt had sent last when the server's
// line response came, for the latest such line; "" if there is none.
func (m *muttTerm) sentBeforeLast(response string) string {
	sent, found := "", ""
	for _, l := range m.dialogue() {
		if sm := muttSentRE.FindStringSubmatch(l); sm != nil {
			sent = sm[1]
		} else if strings.HasSuffix(l, "< "+response) {
			found = sent
		}
	}
	return found
}

// fail ends the test with mutt's IMAP dialogue (its debug log, level 2:
// commands and responses, no literals or passwords) after the message.
func (m *muttTerm) fail(format string, args ...any) {
	m.t.Helper()
	imapLines := m.dialogue()
	if len(imapLines) > 80 {
		imapLines = imapLines[len(imapLines)-80:]
	}
	m.t.Fatalf(format+"\nmutt's IMAP dialogue (last lines):\n%s", append(args, strings.Join(imapLines, "\n"))...)
}
