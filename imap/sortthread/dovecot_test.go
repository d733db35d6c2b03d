package sortthread

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDovecotDifferential answers THREAD and SORT for the same mailboxes
// with this package and with Dovecot's imap binary, run in PREAUTH mode on
// standard input against a Maildir in a temporary directory, and wants the
// same answers. It needs root (Dovecot refuses to serve mail as root, so it
// runs as nobody through setpriv) and Debian's dovecot-imapd, and runs only
// when SORTTHREAD_DOVECOT=1: it takes about a minute.
//
// Known differences, left out of the generated mailboxes: Dovecot takes a
// msg-id from inside a comment in References ("(<a@b>)") and takes
// "<junk <a@b>" as the id "junk<a@b"; this package skips both. Dates before
// 1970 are out of Dovecot's range. Dovecot's casemap folds FULLWIDTH LATIN
// CAPITAL A to "A" (a compatibility mapping, not in RFC 5051), does not
// decompose ANGSTROM SIGN, and decomposes U+1F88 one level only.
func TestDovecotDifferential(t *testing.T) {
	if os.Getenv("SORTTHREAD_DOVECOT") != "1" {
		t.Skip("set SORTTHREAD_DOVECOT=1 to compare with Dovecot")
	}
	for _, bin := range []string{"/usr/lib/dovecot/imap", "/usr/bin/doveadm", "/usr/bin/setpriv"} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("no %s", bin)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run Dovecot as nobody")
	}
	dv := newDovecot(t)

	t.Run("list", func(t *testing.T) {
		msgs := loadList(t)
		raws := make([][]byte, len(list))
		for i := range list {
			raws[i] = []byte(list[i])
		}
		dv.compare(t, msgs, raws)
	})
	t.Run("synthetic", func(t *testing.T) {
		msgs := synthetic(2000)
		dv.compare(t, msgs, renderAll(msgs))
	})
	t.Run("unicode", func(t *testing.T) {
		// Subjects and display names that i;unicode-casemap folds: case,
		// canonical decomposition, final sigma, title-case digraphs, the
		// Kelvin sign, a Latin-1 word and characters that fold to nothing.
		subjects := []string{
			"=?UTF-8?Q?e=CC=81t=C3=A9?=", "=?UTF-8?Q?=C3=A9t=C3=A9?=", "=?UTF-8?Q?=C3=89T=C3=89?=", "etz",
			"=?UTF-8?Q?stra=C3=9Fe?=", "STRASSE", "strasse", "=?UTF-8?Q?=C7=86a?=", "=?UTF-8?Q?=C7=85b?=",
			"=?UTF-8?Q?=C7=84c?=", "=?UTF-8?Q?=CF=83=CF=82?=", "=?UTF-8?Q?=CE=A3=CE=A3?=", "=?UTF-8?Q?=C4=B0x?=",
			"ix", "Ix", "fi", "FI", "=?UTF-8?Q?=E2=84=AA?=", "k", "=?UTF-8?Q?=C3=A5?=", "=?UTF-8?Q?a=CC=8A?=",
			"a", "z", "=?UTF-8?Q?=F0=9F=98=80?=", "=?ISO-8859-1?Q?caf=E9?=", "=?UTF-8?Q?caf=C3=A9?=",
			"=?UTF-8?Q?=C3=98l?=", "=?UTF-8?Q?=C3=BCber?=", "Uber", "=?UTF-8?Q?=C3=9Cbel?=",
		}
		var msgs []Message
		for i, s := range subjects {
			msgs = append(msgs, Message{Seq: uint32(i + 1), UID: uint32(i + 1), Date: at(i), InternalDate: at(i),
				Subject: s, From: Address{Name: decodeWords(s), Mailbox: "u", Host: "h"}})
		}
		dv.compare(t, msgs, renderAll(msgs))
	})
	t.Run("random", func(t *testing.T) {
		for round := range 60 {
			rng := rand.New(rand.NewPCG(uint64(round), 7))
			data := make([]byte, 40+rng.IntN(200))
			for i := range data {
				data[i] = byte(rng.IntN(256))
			}
			msgs := dovecotSafe(fuzzMessages(data))
			if !dv.compare(t, msgs, renderAll(msgs)) {
				dv.shrink(t, msgs)
				return
			}
		}
	})
}

type dovecot struct {
	dir  string
	conf string
	n    int // mailboxes made so far
}

func newDovecot(t *testing.T) *dovecot {
	dir, err := os.MkdirTemp("", "sortthread-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "dovecot.conf")
	text := fmt.Sprintf("mail_location = maildir:%[1]s/home/Maildir\nlog_path = %[1]s/log\nssl = no\n"+
		"protocols = imap\nbase_dir = %[1]s/run\nstate_dir = %[1]s/state\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n", dir)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "home")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	return &dovecot{dir: dir, conf: conf}
}

// dovecotCommands are asked of both.
var dovecotCommands = []string{
	"THREAD REFERENCES", "THREAD ORDEREDSUBJECT",
	"SORT (ARRIVAL)", "SORT (DATE)", "SORT (REVERSE DATE)", "SORT (SIZE)",
	"SORT (SUBJECT)", "SORT (REVERSE SUBJECT)", "SORT (FROM)", "SORT (TO)", "SORT (CC)",
	"SORT (DISPLAYFROM)", "SORT (DISPLAYTO)", "SORT (SUBJECT REVERSE ARRIVAL)",
}

// run appends raws to a new mailbox, selects it and returns Dovecot's
// untagged THREAD or SORT line for each command.
func (d *dovecot) run(t *testing.T, raws [][]byte, arrivals []time.Time, cmds []string) []string {
	d.n++
	name := fmt.Sprintf("box%d", d.n)
	var script bytes.Buffer
	fmt.Fprintf(&script, "c CREATE %s\r\n", name)
	for i, raw := range raws {
		fmt.Fprintf(&script, "a%d APPEND %s \"%s\" {%d+}\r\n", i, name, arrivals[i].Format("02-Jan-2006 15:04:05 -0700"), len(raw))
		script.Write(raw)
		script.WriteString("\r\n")
	}
	// Selected only after the APPENDs: in one session Dovecot's THREAD
	// can miss a message appended to the selected mailbox.
	fmt.Fprintf(&script, "s SELECT %s\r\n", name)
	for i, c := range cmds {
		fmt.Fprintf(&script, "t%d %s UTF-8 ALL\r\n", i, c)
	}
	script.WriteString("z LOGOUT\r\n")
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"env", "USER=nobody", "HOME="+filepath.Join(d.dir, "home"), "doveadm", "-c", d.conf, "exec", "imap")
	cmd.Stdin = &script
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dovecot: %v: %.2000s", err, out)
	}
	var res []string
	for _, l := range strings.Split(string(out), "\r\n") {
		switch {
		case strings.HasPrefix(l, "* THREAD"), strings.HasPrefix(l, "* SORT"):
			res = append(res, strings.TrimRight(l, " "))
		case strings.HasPrefix(l, "t") && !strings.Contains(l, " OK "):
			t.Fatalf("dovecot: %s", l)
		}
	}
	if len(res) != len(cmds) {
		t.Fatalf("dovecot answered %d of %d commands: %.2000s", len(res), len(cmds), out)
	}
	return res
}

// ours is this package's answer to one of dovecotCommands.
func ours(t *testing.T, msgs []Message, cmd string) string {
	switch cmd {
	case "THREAD REFERENCES":
		return "* THREAD " + threadString(msgs, References(msgs))
	case "THREAD ORDEREDSUBJECT":
		return "* THREAD " + threadString(msgs, OrderedSubject(msgs))
	}
	out := "* SORT"
	for _, s := range mustSort(t, msgs, parseCriteria(t, strings.TrimPrefix(cmd, "SORT "))...) {
		out += fmt.Sprintf(" %d", s)
	}
	return out
}

// compare reports each answer that differs and tells whether all agreed.
// Message sizes are set to the rendered sizes, as Dovecot counts them.
func (d *dovecot) compare(t *testing.T, msgs []Message, raws [][]byte) bool {
	t.Helper()
	arrivals := make([]time.Time, len(msgs))
	for i := range msgs {
		msgs[i].Size = int64(len(raws[i]))
		arrivals[i] = msgs[i].InternalDate
	}
	theirs := d.run(t, raws, arrivals, dovecotCommands)
	same := true
	for i, c := range dovecotCommands {
		if mine := ours(t, msgs, c); mine != theirs[i] {
			t.Errorf("%s:\n dovecot %.2000s\n ours    %.2000s", c, theirs[i], mine)
			same = false
		}
	}
	return same
}

// shrink drops messages while THREAD REFERENCES still differs, and logs the
// smallest mailbox found, for a unit test.
func (d *dovecot) shrink(t *testing.T, msgs []Message) {
	differs := func(ms []Message) bool {
		ms = renumber(ms)
		raws := renderAll(ms)
		arrivals := make([]time.Time, len(ms))
		for i := range ms {
			arrivals[i] = ms[i].InternalDate
		}
		return d.run(t, raws, arrivals, dovecotCommands[:1])[0] != ours(t, ms, dovecotCommands[0])
	}
	if !differs(msgs) {
		return
	}
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(msgs); i++ {
			try := append(append([]Message{}, msgs[:i]...), msgs[i+1:]...)
			if differs(try) {
				msgs, changed = try, true
				i--
			}
		}
	}
	for _, raw := range renderAll(renumber(msgs)) {
		t.Logf("smallest difference: %q", raw)
	}
}

func renumber(msgs []Message) []Message {
	out := append([]Message{}, msgs...)
	for i := range out {
		out[i].Seq, out[i].UID = uint32(i+1), uint32(i+1)
	}
	return out
}

// dovecotSafe removes what Dovecot parses differently on purpose (see
// TestDovecotDifferential) and gives each message an INTERNALDATE.
func dovecotSafe(msgs []Message) []Message {
	for i := range msgs {
		m := &msgs[i]
		for _, s := range []*string{&m.MessageID, &m.References, &m.InReplyTo} {
			*s = strings.ReplaceAll(*s, "(<c@x>) <broken", "")
		}
		if m.InternalDate.IsZero() {
			m.InternalDate = at(100 + i)
		}
	}
	return msgs
}

func renderAll(msgs []Message) [][]byte {
	raws := make([][]byte, len(msgs))
	for i := range msgs {
		raws[i] = render(msgs[i])
	}
	return raws
}

// render writes a Message as the header it would have been loaded from.
func render(m Message) []byte {
	var b bytes.Buffer
	addr := func(k string, a Address) {
		if a.Mailbox == "" {
			return
		}
		spec := a.Mailbox
		if a.Host != "" {
			spec += "@" + a.Host
		}
		if a.Name != "" {
			fmt.Fprintf(&b, "%s: \"%s\" <%s>\r\n", k, a.Name, spec)
		} else {
			fmt.Fprintf(&b, "%s: %s\r\n", k, spec)
		}
	}
	if !m.Date.IsZero() {
		fmt.Fprintf(&b, "Date: %s\r\n", m.Date.Format(time.RFC1123Z))
	}
	addr("From", m.From)
	addr("To", m.To)
	addr("Cc", m.Cc)
	fmt.Fprintf(&b, "Subject: %s\r\n", m.Subject)
	for _, h := range [][2]string{{"Message-ID", m.MessageID}, {"In-Reply-To", m.InReplyTo}, {"References", m.References}} {
		if h[1] != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
		}
	}
	b.WriteString("\r\nbody\r\n")
	return b.Bytes()
}
