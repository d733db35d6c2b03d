package sortthread

import (
	"bufio"
	"bytes"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// The scripted tests of Dovecot's imaptest (shared/imaptest/tests) that are
// about SORT, THREAD, ESORT and PARTIAL hold mailboxes and the answers the
// conformance run expects. TestImaptestScripts replays them against this
// package, so that a difference shows here before the protocol layer exists.

func imaptestDir(t *testing.T) string {
	for _, d := range []string{"../../../shared/imaptest/tests", "../../../../shared/imaptest/tests"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	t.Skip("no shared/imaptest/tests")
	return ""
}

// mboxMessage is one message of an imaptest mbox: its INTERNALDATE comes
// from the "From " line, its text is sent with CRLF line ends.
type mboxMessage struct {
	arrival time.Time
	raw     []byte
}

func readMbox(t *testing.T, path string) []mboxMessage {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []mboxMessage
	var cur *mboxMessage
	var body []string
	flush := func() {
		if cur == nil {
			return
		}
		// The blank line before the next "From " line separates messages.
		if n := len(body); n > 0 && body[n-1] == "" {
			body = body[:n-1]
		}
		cur.raw = []byte(strings.Join(body, "\r\n") + "\r\n")
		out = append(out, *cur)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "From ") && (i == 0 || lines[i-1] == "") {
			flush()
			cur = &mboxMessage{arrival: fromLineDate(t, l)}
			body = nil
			continue
		}
		body = append(body, l)
	}
	flush()
	return out
}

// fromLineDate parses "From user@domain  Fri Feb 22 00:06:23 2008 [+0200]".
func fromLineDate(t *testing.T, line string) time.Time {
	f := strings.Fields(line)
	if len(f) < 7 {
		t.Fatalf("mbox From line %q", line)
	}
	s := strings.Join(f[2:], " ")
	for _, layout := range []string{"Mon Jan 2 15:04:05 2006 -0700", "Mon Jan 2 15:04:05 2006"} {
		if d, err := time.Parse(layout, s); err == nil {
			return d
		}
	}
	t.Fatalf("mbox From line date %q", s)
	return time.Time{}
}

var groupStart = regexp.MustCompile(`^\s*([^:<>"@,()]+?)\s*:`)

// envelopeAddress is the first address of a header as ENVELOPE lists it
// (RFC 3501 section 7.4.2): a group yields its start marker, whose mailbox
// is the group's name and whose host is empty.
func envelopeAddress(h mail.Header, key string) Address {
	v := h.Get(key)
	if strings.TrimSpace(v) == "" {
		return Address{}
	}
	if m := groupStart.FindStringSubmatch(v); m != nil {
		return Address{Mailbox: m[1]}
	}
	list, err := h.AddressList(key)
	if err == nil && len(list) > 0 {
		a := Address{Name: list[0].Name, Mailbox: list[0].Address}
		if at := strings.LastIndexByte(a.Mailbox, '@'); at >= 0 {
			a.Mailbox, a.Host = a.Mailbox[:at], a.Mailbox[at+1:]
		}
		return a
	}
	// A bare word such as "d": a mailbox without a host.
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	s, _ := dec.DecodeHeader(strings.TrimSpace(v))
	return Address{Mailbox: s}
}

func fromMbox(t *testing.T, mm mboxMessage, seq uint32) Message {
	th, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(mm.raw)))
	if err != nil {
		t.Fatalf("message %d: %v", seq, err)
	}
	h := mail.Header{Header: message.Header{Header: th}}
	m := Message{
		Seq:          seq,
		UID:          seq,
		InternalDate: mm.arrival,
		Size:         int64(len(mm.raw)),
		Subject:      h.Get("Subject"),
		MessageID:    h.Get("Message-Id"),
		InReplyTo:    h.Get("In-Reply-To"),
		References:   h.Get("References"),
		From:         envelopeAddress(h, "From"),
		To:           envelopeAddress(h, "To"),
		Cc:           envelopeAddress(h, "Cc"),
	}
	if d, err := h.Date(); err == nil {
		m.Date = d
	}
	return m
}

// parseSet reads "1", "1:5", "1,2" or "all" against n messages.
func parseSet(t *testing.T, s string, n int) []bool {
	in := make([]bool, n)
	if s == "all" {
		for i := range in {
			in[i] = true
		}
		return in
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, ok := strings.Cut(part, ":")
		if !ok {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil {
			t.Fatalf("set %q", s)
		}
		for i := min(a, b); i <= max(a, b) && i <= n; i++ {
			in[i-1] = true
		}
	}
	return in
}

// parseCriteria reads "(subject reverse size)".
func parseCriteria(t *testing.T, s string) []Criterion {
	var crit []Criterion
	rev := false
	for _, w := range strings.Fields(strings.Trim(s, "()")) {
		if strings.EqualFold(w, "reverse") {
			rev = true
			continue
		}
		k, ok := ParseKey(w)
		if !ok {
			t.Fatalf("sort key %q", w)
		}
		crit = append(crit, Criterion{Key: k, Reverse: rev})
		rev = false
	}
	return crit
}

var sortCmd = regexp.MustCompile(`^sort (?:return \(([^)]*)\) )?(\([^)]*\)) [a-z0-9-]+ (\S+)$`)
var threadCmd = regexp.MustCompile(`^thread (references|orderedsubject) [a-z0-9-]+ (\S+)$`)
var storeCmd = regexp.MustCompile(`^store (\S+) \+flags \\deleted$`)

// answer runs one imaptest command against the current mailbox and returns
// the untagged response this package makes for it, lower case.
func answer(t *testing.T, msgs []Message, cmd string) string {
	if m := sortCmd.FindStringSubmatch(cmd); m != nil {
		in := parseSet(t, m[3], len(msgs))
		var sel []Message
		for i := range msgs {
			if in[i] {
				sel = append(sel, msgs[i])
			}
		}
		order, err := Sort(sel, parseCriteria(t, m[2]))
		if err != nil {
			t.Fatal(err)
		}
		nums := seqs(sel, order)
		if m[1] == "" {
			out := "* sort"
			for _, n := range nums {
				out += " " + strconv.Itoa(int(n))
			}
			return out
		}
		var ret ESortReturn
		f := strings.Fields(m[1])
		for i := 0; i < len(f); i++ {
			switch f[i] {
			case "min":
				ret.Min = true
			case "max":
				ret.Max = true
			case "all":
				ret.All = true
			case "count":
				ret.Count = true
			case "partial":
				i++
				lo, hi, _ := strings.Cut(f[i], ":")
				a, _ := strconv.Atoi(lo)
				b, _ := strconv.Atoi(hi)
				ret.Partial = &PartialRange{First: int32(a), Last: int32(b)}
			default:
				t.Fatalf("return option %q", f[i])
			}
		}
		return "* esearch (tag $tag) " + string(AppendESortData(nil, nums, ret))
	}
	if m := threadCmd.FindStringSubmatch(cmd); m != nil {
		if m[2] != "all" {
			t.Fatalf("thread search %q", m[2])
		}
		threads := References(msgs)
		if m[1] == "orderedsubject" {
			threads = OrderedSubject(msgs)
		}
		return "* thread " + threadString(msgs, threads)
	}
	t.Fatalf("command %q not understood", cmd)
	return ""
}

func runImaptestScript(t *testing.T, dir, name string) (ran int) {
	script, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	// A script without its own mailbox uses imaptest's default one.
	mboxPath := filepath.Join(dir, name+".mbox")
	if _, err := os.Stat(mboxPath); err != nil {
		mboxPath = filepath.Join(dir, "default.mbox")
	}
	mbox := readMbox(t, mboxPath)
	var msgs []Message
	next := 0 // the next mbox message to append
	appendNext := func() {
		msgs = append(msgs, fromMbox(t, mbox[next], uint32(len(msgs)+1)))
		next++
	}
	lines := strings.Split(string(script), "\n")
	body := 0
	for i, l := range lines {
		if l == "" {
			body = i + 1
			break
		}
		k, v, _ := strings.Cut(l, ":")
		switch k {
		case "messages":
			n := len(mbox)
			if v = strings.TrimSpace(v); v != "all" {
				n, _ = strconv.Atoi(v)
			}
			for range n {
				appendNext()
			}
		}
	}
	var deleted []bool
	for i := body; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "bad ") || strings.HasPrefix(l, "* ") {
			continue
		}
		cmd, ok := strings.CutPrefix(l, "ok ")
		if !ok {
			t.Fatalf("%s: line %q", name, l)
		}
		cmd = strings.ToLower(cmd)
		switch {
		case cmd == "append":
			appendNext()
			continue
		case strings.HasPrefix(cmd, "select "):
			continue
		case cmd == "expunge":
			var kept []Message
			for j := range msgs {
				if j >= len(deleted) || !deleted[j] {
					m := msgs[j]
					m.Seq = uint32(len(kept) + 1)
					kept = append(kept, m)
				}
			}
			msgs, deleted = kept, nil
			continue
		}
		if m := storeCmd.FindStringSubmatch(cmd); m != nil {
			deleted = parseSet(t, m[1], len(msgs))
			continue
		}
		got := strings.ToLower(answer(t, msgs, cmd))
		want := ""
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "* ") {
			want = strings.ToLower(strings.TrimSpace(lines[i+1]))
		}
		if got != want {
			t.Errorf("%s: %s:\n got  %s\n want %s", name, cmd, got, want)
		}
		ran++
	}
	return ran
}

func TestImaptestScripts(t *testing.T) {
	t.Parallel()
	dir := imaptestDir(t)
	names := []string{
		"sort-addresses", "sort-arrival", "sort-date", "sort-display-from", "sort-display-to",
		"sort-size", "sort-subject", "esort", "sort-partial",
		"thread", "thread2", "thread3", "thread4", "thread5", "thread6", "thread7", "thread8",
		"thread-orderedsubject", "thread-orderedsubject2",
	}
	total := 0
	for _, n := range names {
		total += runImaptestScript(t, dir, n)
	}
	if total < 40 {
		t.Errorf("only %d imaptest commands checked", total)
	}
	t.Logf("%d imaptest commands from %d scripts checked", total, len(names))
}
