package imap

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"

	"pillarbox/mailbox"
)

// appendRaw appends raw with imapclient and returns its UID.
func appendRaw(t testing.TB, c *imapclient.Client, mbox string, raw []byte, o *imap.AppendOptions) imap.UID {
	t.Helper()
	cmd := c.Append(mbox, int64(len(raw)), o)
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	return d.UID
}

func fetchOne(t testing.TB, c *imapclient.Client, set imap.NumSet, o *imap.FetchOptions) *imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, o).Collect()
	if err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("FETCH gave %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "mime", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendFetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	raw := []byte(testMessage(7))
	date := time.Date(2024, 2, 29, 23, 59, 58, 0, time.FixedZone("", -5*3600))
	uid := appendRaw(t, c, "Drafts", raw, &imap.AppendOptions{
		Flags: []imap.Flag{`\seen`, `\FLAGGED`, "$Forwarded", "$forwarded", "Custom"}, Time: date})
	if uid != 1 {
		t.Errorf("APPENDUID uid %d, want 1", uid)
	}
	sel, err := c.Select("Drafts", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1 || sel.UIDNext != 2 {
		t.Errorf("SELECT after APPEND: %+v", sel)
	}
	m := fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Flags: true, InternalDate: true,
		RFC822Size: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	if want := []imap.Flag{imap.FlagSeen, imap.FlagFlagged, "$Forwarded", "Custom", flagRecent}; !slices.Equal(m.Flags, want) {
		t.Errorf("FLAGS %q, want %q", m.Flags, want)
	}
	if !m.InternalDate.Equal(date) {
		t.Errorf("INTERNALDATE %v, want %v", m.InternalDate, date)
	}
	if m.RFC822Size != int64(len(raw)) {
		t.Errorf("RFC822.SIZE %d, want %d", m.RFC822Size, len(raw))
	}
	if m.Envelope.Subject != "message 7" || m.Envelope.MessageID != "m7@example.net" || m.Envelope.From[0].Mailbox != "sender7" {
		t.Errorf("ENVELOPE %+v", m.Envelope)
	}
	if bs, ok := m.BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.MediaType() != "text/plain" || bs.Text.NumLines != 1 {
		t.Errorf("BODYSTRUCTURE %+v", m.BodyStructure)
	}
	if got := m.FindBodySection(&imap.FetchItemBodySection{}); !bytes.Equal(got, raw) {
		t.Errorf("BODY[] = %q, want %q", got, raw)
	}

	r := e.raw("alice")
	r.expect("APPEND Nowhere {3+}\r\nabc", "NO [TRYCREATE]")
	r.expect(`APPEND INBOX (\Bogus) {3+}`+"\r\nabc", "BAD")
	// A literal larger than APPENDLIMIT is refused before it is sent.
	r.expect("APPEND INBOX {999999999}", "NO [TOOBIG]")
	r.ok("NOOP")
}

// sectionSpecs are BODY[] sections to compare with the library's
// re-parsing reference (imapserver.ExtractBodySection).
var sectionSpecs = []*imap.FetchItemBodySection{
	{},
	{Specifier: imap.PartSpecifierHeader},
	{Specifier: imap.PartSpecifierText},
	{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"From", "subject", "Missing"}},
	{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Received", "to", "content-type"}},
	{Part: []int{1}},
	{Part: []int{1, 1}},
	{Part: []int{1, 2}},
	{Part: []int{2}},
	{Part: []int{2}, Specifier: imap.PartSpecifierHeader},
	{Part: []int{2}, Specifier: imap.PartSpecifierText},
	{Part: []int{2, 1}},
	{Part: []int{3}},
	{Partial: &imap.SectionPartial{Offset: 10, Size: 20}},
	{Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 0, Size: 5}},
	{Part: []int{1}, Partial: &imap.SectionPartial{Offset: 3, Size: 1 << 20}},
}

func TestFetchSections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	names := []string{"simple.eml", "alternative.eml", "nested.eml", "forward.eml", "japanese.eml", "latin1.eml"}
	for _, n := range names {
		appendRaw(t, c, "INBOX", readFixture(t, n), nil)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		raw := readFixture(t, n)
		var specs []*imap.FetchItemBodySection
		for _, s := range sectionSpecs {
			s := *s
			s.Peek = true
			specs = append(specs, &s)
		}
		m := fetchOne(t, c, imap.SeqSetNum(uint32(i+1)), &imap.FetchOptions{BodySection: specs})
		root := mailbox.Analyze(raw, mailbox.Limits{}).Structure
		for _, s := range specs {
			if !validSection(root, s) {
				continue
			}
			want := imapserver.ExtractBodySection(bytes.NewReader(raw), s)
			got := m.FindBodySection(s)
			if !bytes.Equal(got, want) && !(len(want) == 0 && len(got) == 0) {
				t.Errorf("%s BODY[%s]:\n got %q\nwant %q", n, sectionName(s), got, want)
			}
		}
	}

	// MIME headers of parts, and nested message parts.
	r := e.raw("alice")
	r.ok("EXAMINE INBOX")
	u := r.ok("FETCH 3 (BODY.PEEK[2.MIME] BODY.PEEK[1.1.MIME])")
	contains(t, u, "BODY[2.MIME] {", "Content-Type: image/png;", "Content-Location: https://shop.example/")
	contains(t, u, "BODY[1.1.MIME] {28}\r\nContent-Type: text/plain\r\n\r\n")
	u = r.ok("FETCH 4 (BODY.PEEK[2.HEADER.FIELDS (SUBJECT)])")
	contains(t, u, `BODY[2.HEADER.FIELDS (SUBJECT)]`)
	// A part that does not exist is empty.
	contains(t, r.ok("FETCH 1 (BODY.PEEK[9.8])"), "BODY[9.8] {0}")
}

// validSection reports whether RFC 9051 6.4.5 gives s a meaning for a
// message: the part exists, and HEADER and TEXT after a part number
// address an enclosed message. The reference implementation answers the
// others too, leniently.
func validSection(root *mailbox.Part, s *imap.FetchItemBodySection) bool {
	if len(s.Part) == 0 {
		return true
	}
	p := root.Find(s.Part)
	if p == nil {
		return false
	}
	if s.Specifier == imap.PartSpecifierHeader || s.Specifier == imap.PartSpecifierText {
		return p.Message != nil
	}
	return true
}

func sectionName(s *imap.FetchItemBodySection) string {
	var b strings.Builder
	for i, p := range s.Part {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, p)
	}
	if s.Specifier != "" {
		if len(s.Part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(string(s.Specifier))
	}
	if len(s.HeaderFields) > 0 {
		fmt.Fprintf(&b, ".FIELDS %v", s.HeaderFields)
	}
	if len(s.HeaderFieldsNot) > 0 {
		fmt.Fprintf(&b, ".FIELDS.NOT %v", s.HeaderFieldsNot)
	}
	if s.Partial != nil {
		fmt.Fprintf(&b, "<%d.%d>", s.Partial.Offset, s.Partial.Size)
	}
	return b.String()
}

func TestFetchBodyStructureAndBinary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	raw := readFixture(t, "nested.eml")
	appendRaw(t, c, "INBOX", raw, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BinarySection: []*imap.FetchItemBinarySection{
			{Part: []int{2}, Peek: true},
			{Part: []int{1, 2}, Peek: true},
		},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}},
	})
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mp.Subtype != "mixed" || len(mp.Children) != 2 {
		t.Fatalf("BODYSTRUCTURE %+v", m.BodyStructure)
	}
	png, ok := mp.Children[1].(*imap.BodyStructureSinglePart)
	if !ok || png.MediaType() != "image/png" || png.Filename() != "logo.png" || png.ID != "<logo@shop.example>" ||
		png.Extended == nil || png.Extended.Location != "https://shop.example/static/logo.png" ||
		!slices.Equal(png.Extended.Language, []string{"en", "de"}) {
		t.Errorf("image part %+v %+v", png, png.Extended)
	}
	bin := m.FindBinarySection(&imap.FetchItemBinarySection{Part: []int{2}, Peek: true})
	if len(bin) != 172 || bin[0] != 0 || bin[1] != 3 {
		t.Errorf("BINARY[2]: %d octets %x...", len(bin), bin[:min(len(bin), 4)])
	}
	if n, ok := m.FindBinarySectionSize([]int{2}); !ok || n != 172 {
		t.Errorf("BINARY.SIZE[2] = %d %v", n, ok)
	}
	if got := m.FindBinarySection(&imap.FetchItemBinarySection{Part: []int{1, 2}, Peek: true}); !bytes.Contains(got, []byte("Total: 42 \xa4")) {
		t.Errorf("BINARY[1.2] = %q", got)
	}
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	contains(t, r.ok("FETCH 1 (BODY)"), `BODY (((`)
	contains(t, r.ok("FETCH 1 (BINARY.PEEK[2]<0.4>)"), "BINARY[2]<0> ~{4}\r\n\x00\x03\x06\t")
}

func TestFetchSetsSeen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 3; i++ {
		e.deliver("alice", testMessage(i))
	}
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	u := r.ok("FETCH 1 (BODY.PEEK[HEADER] FLAGS)")
	contains(t, u, `* 1 FETCH (FLAGS (\Recent)`)
	u = r.ok("FETCH 1 BODY[TEXT]")
	contains(t, u, `FLAGS (\Seen \Recent)`, "BODY[TEXT] {")
	u = r.ok("UID FETCH 2 RFC822")
	contains(t, u, "* 2 FETCH (UID 2", `\Seen`, "RFC822 {")
	u = r.ok("FETCH 1:* FLAGS")
	contains(t, u, `* 2 FETCH (FLAGS (\Seen \Recent))`)
	contains(t, u, `* 3 FETCH (FLAGS (\Recent))`)

	// EXAMINE is read-only: no \Seen, no STORE, no EXPUNGE.
	x := e.raw("alice")
	u = x.ok("EXAMINE INBOX")
	contains(t, u, "* OK [PERMANENTFLAGS ()]")
	u = x.ok("FETCH 3 BODY[]")
	for _, l := range u {
		if strings.Contains(l, `\Seen`) {
			t.Errorf("EXAMINE: FETCH BODY[] set \\Seen: %q", l)
		}
	}
	x.expect(`STORE 3 +FLAGS (\Deleted)`, "NO [READ-ONLY]")
	x.expect(`MOVE 1 Trash`, "NO [READ-ONLY]")
	r.ok(`STORE 3 +FLAGS (\Deleted)`)
	// RFC 9051 6.4.3: EXPUNGE needs a mailbox opened read-write;
	// CLOSE after EXAMINE expunges nothing (6.4.2).
	x.expect("EXPUNGE", "NO [READ-ONLY]")
	x.ok("CLOSE")
	contains(t, r.ok("FETCH 3 FLAGS"), `FLAGS (\Deleted \Recent)`)
	st := r.ok("STATUS INBOX (MESSAGES UNSEEN)")
	contains(t, st, "MESSAGES 3 UNSEEN 1")
}

func TestFetchCorpus(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "shared", "corpus", "mimekit")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Skip("no corpus at " + dir)
	}
	e := newEnv(t)
	c := e.client("alice")
	var raws [][]byte
	for _, f := range files {
		if strings.HasSuffix(f, "LICENSE") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil || len(raw) == 0 || int64(len(raw)) > e.srv.opts.AppendLimit {
			continue
		}
		appendRaw(t, c, "INBOX", raw, nil)
		raws = append(raws, raw)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}, {Peek: true, Specifier: imap.PartSpecifierHeader},
			{Peek: true, Part: []int{1}}, {Peek: true, Part: []int{2, 1}, Specifier: imap.PartSpecifierText}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(raws) {
		t.Fatalf("FETCH gave %d messages, want %d", len(msgs), len(raws))
	}
	for i, m := range msgs {
		if got := m.FindBodySection(&imap.FetchItemBodySection{Peek: true}); !bytes.Equal(got, raws[i]) {
			t.Errorf("message %d: BODY[] differs from what was appended", i+1)
		}
		if m.BodyStructure == nil || m.Envelope == nil {
			t.Errorf("message %d: no BODYSTRUCTURE or ENVELOPE", i+1)
		}
	}
	t.Logf("%d corpus messages fetched in %v", len(msgs), time.Since(start))
}

// Messages of one FETCH are read in its snapshot while they fit in
// bodyBudget (for items other than whole messages, only the small ones),
// and one by one after it: every way gives each message's octets.
func TestFetchWholeMessagesPastBudget(t *testing.T) {
	e := newEnv(t)
	const n, size = 30, 100_000 // 3 MB: past the 2 MB budget
	want := make(map[uint32]string)
	for i := 1; i <= n; i++ {
		lines := size / 28
		if i%3 == 0 {
			lines = 40 // a small one among them: read in the snapshot for any item
		}
		msg := testMessage(i) + strings.Repeat(fmt.Sprintf("line %d of a long message\r\n", i), lines)
		e.deliver("alice", msg)
		want[uint32(i)] = crlf(msg)
	}
	c := e.client("alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, item := range []*imap.FetchItemBodySection{{Peek: true}, {Peek: true, Partial: &imap.SectionPartial{Offset: 10, Size: 500}},
		{Peek: true, Specifier: imap.PartSpecifierText}} {
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: n}}, &imap.FetchOptions{UID: true,
			BodySection: []*imap.FetchItemBodySection{item}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != n {
			t.Fatalf("%d messages, want %d", len(msgs), n)
		}
		for _, m := range msgs {
			got := string(m.FindBodySection(item))
			w := want[uint32(m.UID)]
			switch {
			case item.Partial != nil:
				w = w[10:510]
			case item.Specifier == imap.PartSpecifierText:
				w = w[strings.Index(w, "\r\n\r\n")+4:]
			}
			if got != w {
				t.Fatalf("UID %d: %d octets differ from the %d stored", m.UID, len(got), len(w))
			}
		}
	}
}

// Only whole messages are read in the batch's snapshot: a partial one
// (a preview's BODY.PEEK[]<0.2048>) reads its range, not the message.
func TestBodyReads(t *testing.T) {
	partial := &imap.SectionPartial{Offset: 0, Size: 2048}
	for _, c := range []struct {
		f    fetchItems
		want int64
	}{
		{fetchItems{RFC822: true}, bodyBudget},
		{fetchItems{FetchOptions: imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}}, bodyBudget},
		{fetchItems{FetchOptions: imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true, Partial: partial}}}}, smallMessage},
		{fetchItems{FetchOptions: imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader}}}}, smallMessage},
		{fetchItems{FetchOptions: imap.FetchOptions{BinarySection: []*imap.FetchItemBinarySection{{}}}}, bodyBudget},
		{fetchItems{FetchOptions: imap.FetchOptions{BinarySection: []*imap.FetchItemBinarySection{{Partial: partial}}}}, smallMessage},
		{fetchItems{FetchOptions: imap.FetchOptions{BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{1}}}}}, smallMessage},
		{fetchItems{RFC822Header: true}, smallMessage},
		{fetchItems{preview: true}, smallMessage},
		{fetchItems{FetchOptions: imap.FetchOptions{Flags: true, Envelope: true, RFC822Size: true}}, 0},
	} {
		if got := c.f.bodyReads(); got != c.want {
			t.Errorf("%+v: bodyReads %d, want %d", c.f.FetchOptions, got, c.want)
		}
	}
}
