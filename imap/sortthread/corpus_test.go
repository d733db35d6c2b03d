package sortthread

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// fromRaw builds the Message the IMAP session would load for a raw message,
// parsing its header with go-message the way delivery does.
func fromRaw(t testing.TB, raw []byte, seq uint32, arrival time.Time) Message {
	t.Helper()
	// One corpus file starts with a byte order mark, which is no part of a
	// header field name.
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	th, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		// A header go-message refuses leaves the message with nothing
		// but its number, date and size, as if every header were missing.
		t.Logf("message %d: header: %.80v", seq, err)
		th = textproto.Header{}
	}
	h := mail.Header{Header: message.Header{Header: th}}
	m := Message{
		Seq:          seq,
		UID:          1000 + seq,
		InternalDate: arrival,
		Size:         int64(len(raw)),
		Subject:      h.Get("Subject"),
		MessageID:    h.Get("Message-Id"),
		InReplyTo:    h.Get("In-Reply-To"),
		References:   h.Get("References"),
	}
	if d, err := h.Date(); err == nil {
		m.Date = d
	}
	first := func(key string) Address {
		list, err := h.AddressList(key)
		if err != nil || len(list) == 0 {
			return Address{}
		}
		a := Address{Name: list[0].Name, Mailbox: list[0].Address}
		if at := strings.LastIndexByte(a.Mailbox, '@'); at >= 0 {
			a.Mailbox, a.Host = a.Mailbox[:at], a.Mailbox[at+1:]
		}
		return a
	}
	m.From, m.To, m.Cc = first("From"), first("To"), first("Cc")
	return m
}

// corpusDir finds ../shared/corpus/mimekit from the main checkout or from a
// worktree beside it; tests that need it skip when it is not there.
func corpusDir(t *testing.T) string {
	for _, d := range []string{"../../../shared/corpus/mimekit", "../../../../shared/corpus/mimekit"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	t.Skip("no shared/corpus/mimekit")
	return ""
}

func loadCorpus(t *testing.T) ([]Message, []string) {
	dir := corpusDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []Message
	var names []string
	for _, e := range entries {
		if e.IsDir() || e.Name() == "LICENSE" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		seq := uint32(len(msgs) + 1)
		msgs = append(msgs, fromRaw(t, raw, seq, at(int(seq))))
		names = append(names, e.Name())
	}
	if len(msgs) < 20 {
		t.Fatalf("only %d corpus messages", len(msgs))
	}
	return msgs, names
}

// threadSubject is the key a top-level thread is gathered by in step 5.
func threadSubject(msgs []Message, n *Node) string {
	for n.Msg < 0 {
		n = n.Children[0]
	}
	s, _ := BaseSubject(msgs[n.Msg].Subject)
	return CollationKey(s)
}

func TestCorpusThread(t *testing.T) {
	t.Parallel()
	msgs, names := loadCorpus(t)
	byName := map[string]int{}
	for i, n := range names {
		byName[n] = i
	}

	refs := References(msgs)
	checkTree(t, len(msgs), refs)
	// Step 5 leaves one top-level thread per non-empty thread subject.
	subjects := map[string]bool{}
	for _, n := range refs {
		s := threadSubject(msgs, n)
		if s != "" && subjects[s] {
			t.Errorf("two top-level threads with subject %q", s)
		}
		subjects[s] = true
	}
	// body.1.txt to body.9.txt share a subject and have no Message-ID or
	// References: neither is a reply, so they meet under one dummy, in
	// sequence order since their Date is the same too.
	var body []int
	for i, n := range names {
		if strings.HasPrefix(n, "body.") {
			body = append(body, i)
		}
	}
	found := false
	for _, n := range refs {
		if n.Msg >= 0 || n.Children[0].Msg != body[0] {
			continue
		}
		found = true
		var kids []int
		for _, c := range n.Children {
			kids = append(kids, c.Msg)
			if len(c.Children) != 0 {
				t.Errorf("%s has children", names[c.Msg])
			}
		}
		if !slices.Equal(kids, body) {
			t.Errorf("the body.N thread holds %v, want %v", kids, body)
		}
	}
	if !found {
		t.Errorf("no dummy thread headed by body.1.txt in %s", threadString(msgs, refs))
	}
	// epilogue.txt replies to four messages that are not here: the dummy
	// chain is pruned and the reply stands alone at the top.
	epi := byName["epilogue.txt"]
	for _, n := range refs {
		if n.Msg == epi && len(n.Children) != 0 {
			t.Errorf("epilogue.txt has children")
		}
	}
	if _, reply := BaseSubject(msgs[epi].Subject); !reply {
		t.Errorf("epilogue.txt's %q is not a reply", msgs[epi].Subject)
	}

	// ORDEREDSUBJECT: one thread per base subject, holding exactly the
	// messages with that base subject.
	ordered := OrderedSubject(msgs)
	checkTree(t, len(msgs), ordered)
	want := map[string]int{}
	for i := range msgs {
		s, _ := BaseSubject(msgs[i].Subject)
		want[CollationKey(s)]++
	}
	if len(ordered) != len(want) {
		t.Errorf("ORDEREDSUBJECT made %d threads for %d base subjects", len(ordered), len(want))
	}
	for _, n := range ordered {
		s := threadSubject(msgs, n)
		for _, c := range n.Children {
			if cs := threadSubject(msgs, c); cs != s {
				t.Errorf("thread %q holds a message with subject %q", s, cs)
			}
		}
		if 1+len(n.Children) != want[s] {
			t.Errorf("thread %q has %d messages, want %d", s, 1+len(n.Children), want[s])
		}
	}
}

func TestCorpusSort(t *testing.T) {
	t.Parallel()
	msgs, _ := loadCorpus(t)
	keys := []Key{KeyArrival, KeyCc, KeyDate, KeyFrom, KeySize, KeySubject, KeyTo, KeyDisplayFrom, KeyDisplayTo}
	for _, k := range keys {
		for _, rev := range []bool{false, true} {
			crit := []Criterion{{Key: k, Reverse: rev}}
			got := mustSort(t, msgs, crit...)
			checkSorted(t, msgs, got, crit)
		}
	}
}

// list is a small mailing-list discussion as clients write it: folded
// References, a list tag, an encoded-word subject, a reply from a client
// that sends only In-Reply-To, a reply whose parent was deleted, a forward,
// and an unrelated message.
var list = []string{
	// 1
	"From: Ann Example <ann@example.org>\r\nTo: dev@lists.example.org\r\nSubject: [dev] IMAP SORT support\r\n" +
		"Date: Mon, 2 Mar 2026 09:00:00 +0100\r\nMessage-ID: <a1@example.org>\r\n\r\nShall we?\r\n",
	// 2: replies to 1
	"From: =?UTF-8?Q?Bj=C3=B6rn?= <bjorn@example.net>\r\nTo: dev@lists.example.org\r\n" +
		"Subject: Re: [dev] IMAP SORT support\r\nDate: Mon, 2 Mar 2026 10:00:00 +0100\r\n" +
		"Message-ID: <b1@example.net>\r\nIn-Reply-To: <a1@example.org>\r\nReferences: <a1@example.org>\r\n\r\nYes.\r\n",
	// 3: replies to 2, References folded
	"From: Ann Example <ann@example.org>\r\nTo: dev@lists.example.org\r\n" +
		"Subject: =?UTF-8?Q?Re=3A_Re=3A_=5Bdev=5D_IMAP_SORT_support?=\r\nDate: Mon, 2 Mar 2026 11:30:00 +0100\r\n" +
		"Message-ID: <a2@example.org>\r\nReferences: <a1@example.org>\r\n <b1@example.net>\r\n\r\nGood.\r\n",
	// 4: replies to 1 with In-Reply-To only, and a comment
	"From: carl@example.com\r\nTo: dev@lists.example.org\r\nSubject: RE: [dev] IMAP SORT support\r\n" +
		"Date: Mon, 2 Mar 2026 10:15:00 +0100\r\nMessage-ID: <c1@example.com>\r\n" +
		"In-Reply-To: <a1@example.org> (Ann Example's message of Mon, 2 Mar 2026)\r\n\r\nAnd THREAD.\r\n",
	// 5: replies to a deleted message that replied to 1
	"From: Dee <dee@example.com>\r\nTo: dev@lists.example.org\r\nSubject: Re: [dev] IMAP SORT support\r\n" +
		"Date: Mon, 2 Mar 2026 12:00:00 +0100\r\nMessage-ID: <d1@example.com>\r\n" +
		"References: <a1@example.org> <deleted@example.com>\r\n\r\nAgreed.\r\n",
	// 6: a forward of the discussion, no References
	"From: Ann Example <ann@example.org>\r\nTo: boss@example.org\r\nSubject: Fwd: [dev] IMAP SORT support\r\n" +
		"Date: Tue, 3 Mar 2026 08:00:00 +0100\r\nMessage-ID: <a3@example.org>\r\n\r\nFYI\r\n",
	// 7: unrelated, no Date header: INTERNALDATE places it
	"From: Eve <eve@example.net>\r\nTo: ann@example.org\r\nSubject: Lunch?\r\n" +
		"Message-ID: <e1@example.net>\r\n\r\nNoon?\r\n",
	// 8: replies to 3
	"From: =?UTF-8?Q?Bj=C3=B6rn?= <bjorn@example.net>\r\nTo: dev@lists.example.org\r\n" +
		"Subject: Re: [dev] IMAP SORT support\r\nDate: Mon, 2 Mar 2026 13:00:00 +0100\r\n" +
		"Message-ID: <b2@example.net>\r\nReferences: <a1@example.org> <b1@example.net> <a2@example.org>\r\n\r\nDone.\r\n",
}

func loadList(t *testing.T) []Message {
	msgs := make([]Message, len(list))
	for i, raw := range list {
		// Arrival minutes after the Date, except message 7's, which
		// arrived first of all.
		arrival := time.Date(2026, 3, 2, 8, 1+i, 0, 0, time.UTC)
		if i == 6 {
			arrival = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
		}
		msgs[i] = fromRaw(t, []byte(raw), uint32(i+1), arrival)
	}
	return msgs
}

func TestListThread(t *testing.T) {
	t.Parallel()
	msgs := loadList(t)
	// 1 has replies 2 (10:00), 4 (10:15, by In-Reply-To) and 5 (12:00, the
	// deleted parent spliced out); 3 replies to 2 and 8 to 3. The forward
	// 6 has no References but the same base subject and is a forward, so
	// step 5 puts it under 1. 7 (no Date, arrived 07:00 UTC) comes first.
	if got, want := threadRefs(t, msgs), "(7)(1 (2 3 8)(4)(5)(6))"; got != want {
		t.Errorf("THREAD REFERENCES = %s, want %s", got, want)
	}
	ordered := OrderedSubject(msgs)
	checkTree(t, len(msgs), ordered)
	if got, want := threadString(msgs, ordered), "(7)(1 (2)(4)(3)(5)(8)(6))"; got != want {
		t.Errorf("THREAD ORDEREDSUBJECT = %s, want %s", got, want)
	}
	if got, want := string(AppendThreadLists(nil, References(msgs), ByUID(msgs))), "(1007)(1001 (1002 1003 1008)(1004)(1005)(1006))"; got != want {
		t.Errorf("UID THREAD REFERENCES = %s, want %s", got, want)
	}
}

func TestListSort(t *testing.T) {
	t.Parallel()
	msgs := loadList(t)
	tests := []struct {
		crit []Criterion
		want []uint32
	}{
		// FROM compares local parts: ann, bjorn, carl, dee, eve.
		{[]Criterion{{Key: KeyFrom}}, []uint32{1, 3, 6, 2, 8, 4, 5, 7}},
		// DISPLAYFROM: "Ann Example", "Björn", "carl@example.com", "Dee", "Eve".
		{[]Criterion{{Key: KeyDisplayFrom}, {Key: KeyDate, Reverse: true}}, []uint32{6, 3, 1, 8, 2, 4, 5, 7}},
		// TO: ann, boss, dev...; DISPLAYTO has no names here, so addr-specs.
		{[]Criterion{{Key: KeyTo}}, []uint32{7, 6, 1, 2, 3, 4, 5, 8}},
		{[]Criterion{{Key: KeyDisplayTo}}, []uint32{7, 6, 1, 2, 3, 4, 5, 8}},
		// SUBJECT: "IMAP SORT support" (every [dev] message) before "Lunch?".
		{[]Criterion{{Key: KeySubject}, {Key: KeyDate}}, []uint32{1, 2, 4, 3, 5, 8, 6, 7}},
		// DATE falls back to INTERNALDATE for 7.
		{[]Criterion{{Key: KeyDate}}, []uint32{7, 1, 2, 4, 3, 5, 8, 6}},
		{[]Criterion{{Key: KeyArrival, Reverse: true}}, []uint32{8, 6, 5, 4, 3, 2, 1, 7}},
	}
	for _, tt := range tests {
		if got := mustSort(t, msgs, tt.crit...); !slices.Equal(got, tt.want) {
			t.Errorf("SORT %v = %v, want %v", tt.crit, got, tt.want)
		}
	}
}
