package sortthread

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// mid turns short names into a Message-ID or References value: "a b" gives
// "<a@test> <b@test>".
func mid(names string) string {
	var out []string
	for _, n := range strings.Fields(names) {
		out = append(out, "<"+n+"@test>")
	}
	return strings.Join(out, " ")
}

// tm is a message for thread tests: sequence number, hour of its Date,
// subject, own id and References, as short names.
func tm(seq uint32, hour int, subject, id, refs string) Message {
	return Message{Seq: seq, UID: 100 + seq, Date: at(hour), InternalDate: at(1000 + int(seq)),
		Subject: subject, MessageID: mid(id), References: mid(refs)}
}

func threadRefs(t *testing.T, msgs []Message) string {
	t.Helper()
	threads := References(msgs)
	checkTree(t, len(msgs), threads)
	return threadString(msgs, threads)
}

// TestReferencesRFCExample builds the thread RFC 5256 section 4 draws,
// "(2)(3 6 (4 23)(44 7 96))", from References headers.
func TestReferencesRFCExample(t *testing.T) {
	t.Parallel()
	msgs := []Message{
		tm(2, 0, "first", "m2", ""),
		tm(3, 1, "second", "m3", ""),
		tm(6, 2, "Re: second", "m6", "m3"),
		tm(4, 3, "Re: second", "m4", "m3 m6"),
		tm(23, 4, "Re: second", "m23", "m3 m6 m4"),
		tm(44, 5, "Re: second", "m44", "m3 m6"),
		tm(7, 6, "Re: second", "m7", "m3 m6 m44"),
		tm(96, 7, "Re: second", "m96", "m3 m6 m44 m7"),
	}
	if got, want := threadRefs(t, msgs), "(2)(3 6 (4 23)(44 7 96))"; got != want {
		t.Errorf("THREAD REFERENCES = %s, want %s", got, want)
	}
	// The same with the messages listed in another order: the input
	// order does not matter, only dates and sequence numbers do.
	rev := make([]Message, len(msgs))
	for i := range msgs {
		rev[len(msgs)-1-i] = msgs[i]
	}
	if got, want := threadRefs(t, rev), "(2)(3 6 (4 23)(44 7 96))"; got != want {
		t.Errorf("reversed input: THREAD REFERENCES = %s, want %s", got, want)
	}
}

func TestReferences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msgs []Message
		want string
	}{
		{"empty", nil, ""},
		{"one", []Message{tm(1, 0, "a", "a", "")}, "(1)"},
		{"sorted by sent date, then sequence number", []Message{
			tm(1, 5, "a", "a", ""), tm(2, 3, "b", "b", ""), tm(3, 3, "c", "c", ""),
		}, "(2)(3)(1)"},
		{"In-Reply-To when there is no References", []Message{
			tm(1, 0, "a", "a", ""),
			{Seq: 2, Date: at(1), Subject: "b", MessageID: mid("b"), InReplyTo: `"Ann <x@test>" (on <y@test>) ` + mid("a")},
		}, "(1 2)"},
		{"References wins over In-Reply-To", []Message{
			tm(1, 0, "a", "a", ""), tm(2, 1, "b", "b", ""),
			{Seq: 3, Date: at(2), Subject: "c", MessageID: mid("c"), References: mid("a"), InReplyTo: mid("b")},
		}, "(1 3)(2)"},
		{"a missing parent with two replies stays a dummy at the top", []Message{
			tm(3, 1, "x", "c", "gone"), tm(5, 2, "y", "e", "gone"),
		}, "((3)(5))"},
		{"a missing parent with one reply is pruned", []Message{
			tm(3, 1, "Re: x", "c", "gone"), tm(5, 0, "y", "e", ""),
		}, "(5)(3)"},
		{"a missing parent below the top is spliced out", []Message{
			tm(1, 0, "a", "a", ""), tm(2, 1, "b", "b", "a gone"), tm(3, 2, "c", "c", "a gone"),
		}, "(1 (2)(3))"},
		{"a chain of missing parents is pruned to its one message", []Message{
			tm(1, 0, "Re: x", "a", "g1 g2 g3 g4"),
		}, "(1)"},
		{"a dummy is sorted by its earliest child", []Message{
			tm(1, 5, "a", "a", ""), tm(2, 9, "x", "b", "gone"), tm(3, 4, "y", "c", "gone"),
		}, "((3)(2))(1)"},
		{"duplicate Message-ID: the lowest sequence number keeps it", []Message{
			tm(2, 1, "copy", "a", ""), tm(1, 0, "orig", "a", ""), tm(3, 2, "reply", "c", "a"),
		}, "(1 3)(2)"},
		{"no Message-ID", []Message{
			{Seq: 1, Date: at(0), Subject: "a"}, {Seq: 2, Date: at(1), Subject: "b", MessageID: "not-an-id"},
			tm(3, 2, "c", "c", ""),
		}, "(1)(2)(3)"},
		// 2's last reference is itself: 1.B breaks the link from a that
		// 1.A made, and makes no link to itself.
		{"a reference to itself", []Message{tm(1, 0, "a", "a", "a"), tm(2, 1, "b", "b", "a b")}, "(1)(2)"},
		// 1.A of message 1 makes 4 -> 8 (message 2) -> 2 (itself) -> 10;
		// its 1.B drops the parent 8 and cannot link 10, its own child.
		// Message 2's 1.A then hangs 1 under dummy 1 and 6 under 1, and
		// its 1.B moves 2 from 4 to 6: "(1 2)", as Dovecot answers.
		{"1.B breaks the old parent even when the new link would loop", []Message{
			tm(1, 0, "x", "2", "4 8 2 10"), tm(2, 1, "y", "8", "1 1 2 6"),
		}, "(1 2)"},
		{"a reference loop", []Message{
			tm(1, 0, "a", "a", "b"), tm(2, 1, "b", "b", "a"),
		}, "(2 1)"},
		{"a longer loop through dummies", []Message{
			tm(1, 0, "a", "a", "x y b"), tm(2, 1, "b", "b", "y x a"),
		}, "(2 1)"},
		{"a message's own last reference replaces a parent from a truncated chain", []Message{
			tm(1, 1, "d", "d", "a b c"), tm(2, 0, "c", "c", "a"),
		}, "(2 1)"},
		{"the same, processed the other way round", []Message{
			tm(1, 0, "c", "c", "a"), tm(2, 1, "d", "d", "a b c"),
		}, "(1 2)"},
		// r links p to c (1.A); s's References name q as c's parent, but c
		// has one already; c's own References agree with p.
		{"an existing link from another message's References is kept", []Message{
			tm(1, 0, "p", "p", ""), tm(2, 1, "q", "q", ""),
			tm(3, 2, "r", "r", "p c"), tm(4, 3, "s", "s", "q c"), tm(5, 4, "c", "c", "p"),
		}, "(1 5 (3)(4))(2)"},
	}
	for _, tt := range tests {
		if got := threadRefs(t, tt.msgs); got != tt.want {
			t.Errorf("%s: THREAD REFERENCES = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestReferencesSubjects covers step 5, gathering threads by base subject.
func TestReferencesSubjects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msgs []Message
		want string
	}{
		{"a reply goes under the original", []Message{
			tm(1, 0, "foo", "a", ""), tm(2, 1, "Re: foo", "b", ""),
		}, "(1 2)"},
		{"an earlier reply still goes under the original", []Message{
			tm(1, 0, "Re: foo", "a", ""), tm(2, 1, "foo", "b", ""),
		}, "(2 1)"},
		{"two originals get a dummy parent", []Message{
			tm(1, 0, "foo", "a", ""), tm(2, 1, "FOO", "b", ""),
		}, "((1)(2))"},
		{"two replies get a dummy parent", []Message{
			tm(1, 0, "Re: foo", "a", ""), tm(2, 1, "Fwd: foo", "b", ""),
		}, "((1)(2))"},
		{"a third original joins the new dummy", []Message{
			tm(1, 0, "foo", "a", ""), tm(2, 1, "foo", "b", ""), tm(3, 2, "[l] foo", "c", ""),
		}, "((1)(2)(3))"},
		{"a thread under a dummy takes in a lone message", []Message{
			tm(1, 0, "foo", "a", "gone"), tm(2, 1, "foo", "b", "gone"), tm(3, 2, "Re: foo", "c", ""),
		}, "((1)(2)(3))"},
		{"two dummies merge their children", []Message{
			tm(1, 0, "foo", "a", "gone1"), tm(2, 1, "foo", "b", "gone1"),
			tm(3, 2, "foo", "c", "gone2"), tm(4, 3, "foo", "d", "gone2"),
		}, "((1)(2)(3)(4))"},
		{"a reply thread with children moves whole", []Message{
			tm(1, 0, "foo", "a", ""), tm(2, 1, "Re: foo", "b", ""), tm(3, 2, "Re: foo", "c", "b"),
		}, "(1 2 3)"},
		{"empty base subjects are not gathered", []Message{
			tm(1, 0, "", "a", ""), tm(2, 1, "Re:", "b", ""),
		}, "(1)(2)"},
		{"the thread subject is the first message's, not a reply's", []Message{
			tm(1, 0, "foo", "a", ""), tm(2, 1, "Re: bar", "b", "a"), tm(3, 2, "Re: bar", "c", ""),
		}, "(1 2)(3)"},
	}
	for _, tt := range tests {
		if got := threadRefs(t, tt.msgs); got != tt.want {
			t.Errorf("%s: THREAD REFERENCES = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestReferencesSentDateFallback: a message without a Date header is placed
// by its INTERNALDATE (RFC 5256 section 2.2).
func TestReferencesSentDateFallback(t *testing.T) {
	t.Parallel()
	msgs := []Message{
		tm(1, 5, "a", "a", ""),
		{Seq: 2, InternalDate: at(1), Subject: "b", MessageID: mid("b")},
		tm(3, 3, "c", "c", ""),
	}
	if got, want := threadRefs(t, msgs), "(2)(3)(1)"; got != want {
		t.Errorf("THREAD REFERENCES = %s, want %s", got, want)
	}
}

func TestOrderedSubject(t *testing.T) {
	t.Parallel()
	msgs := []Message{
		tm(1, 3, "a", "a", ""),
		tm(2, 1, "Re: a", "b", ""),
		tm(3, 2, "b", "c", ""),
		tm(4, 4, "re: A", "d", "c"), // References do not matter here
		tm(5, 0, "c", "e", ""),
		tm(6, 5, "[l] c", "f", ""),
		tm(7, 6, "", "g", ""),
	}
	threads := OrderedSubject(msgs)
	checkTree(t, len(msgs), threads)
	// Threads by the date of their first message; in each, the first is
	// the parent of all the others, which have no children.
	if got, want := threadString(msgs, threads), "(5 6)(2 (1)(4))(3)(7)"; got != want {
		t.Errorf("THREAD ORDEREDSUBJECT = %s, want %s", got, want)
	}
	for _, th := range threads {
		for _, c := range th.Children {
			if len(c.Children) != 0 {
				t.Errorf("ORDEREDSUBJECT child %d has children", c.Msg)
			}
		}
	}
}

func TestThreadAlgorithms(t *testing.T) {
	t.Parallel()
	msgs := []Message{tm(1, 0, "a", "a", ""), tm(2, 1, "b", "b", "a")}
	for alg, want := range map[imap.ThreadAlgorithm]string{
		imap.ThreadOrderedSubject: "(1)(2)",
		imap.ThreadReferences:     "(1 2)",
	} {
		threads, err := Thread(alg, msgs)
		if err != nil {
			t.Fatalf("Thread(%s): %v", alg, err)
		}
		if got := threadString(msgs, threads); got != want {
			t.Errorf("Thread(%s) = %s, want %s", alg, got, want)
		}
	}
	if _, err := Thread("JWZ", msgs); err == nil || !strings.HasPrefix(err.Error(), "sortthread: ") {
		t.Errorf("Thread(JWZ): err = %v, want a sortthread error", err)
	}
}

// TestReferencesDeepChain threads a reply chain as deep as a large mailbox,
// which must neither recurse out of hand nor take quadratic time to check
// for loops.
func TestReferencesDeepChain(t *testing.T) {
	t.Parallel()
	const n = 100000
	msgs := make([]Message, n)
	want := make([]byte, 0, 8*n)
	want = append(want, '(')
	for i := range msgs {
		msgs[i] = Message{Seq: uint32(i + 1), Date: at(i), Subject: "Re: deep",
			MessageID: "<" + itoa(i) + "@test>"}
		if i > 0 {
			msgs[i].InReplyTo = "<" + itoa(i-1) + "@test>"
			want = append(want, ' ')
		}
		want = append(want, itoa(i+1)...)
	}
	want = append(want, ')')
	threads := References(msgs)
	checkTree(t, n, threads)
	if got := threadString(msgs, threads); got != string(want) {
		t.Errorf("THREAD REFERENCES of a %d-deep chain: got %.60s..., want %.60s...", n, got, want)
	}
}

// TestReferencesDeepComb threads a chain in which every message also has a
// leaf reply, so that the output nests as deep as the chain is long.
func TestReferencesDeepComb(t *testing.T) {
	t.Parallel()
	const depth = 30000
	var msgs []Message
	var want strings.Builder
	for i := 0; i < depth; i++ {
		spine := len(msgs)
		msgs = append(msgs, Message{Seq: uint32(spine + 1), Date: at(2 * i), Subject: "comb",
			MessageID: "<s" + itoa(i) + "@test>"})
		if i > 0 {
			msgs[spine].InReplyTo = "<s" + itoa(i-1) + "@test>"
			// The leaf, dated after the next spine message, sorts after it.
			msgs = append(msgs, Message{Seq: uint32(spine + 2), Date: at(2*i + 3), Subject: "Re: comb",
				InReplyTo: "<s" + itoa(i-1) + "@test>"})
		}
	}
	threads := References(msgs)
	checkTree(t, len(msgs), threads)
	// Spine i has sequence number 2i (1 for the first), the leaf reply to
	// spine i has 2i+3, and sorts after spine i+1: "(1 (2 (4 ...)(5))(3))".
	spine := func(i int) string {
		if i == 0 {
			return "1"
		}
		return itoa(2 * i)
	}
	want.WriteString("(")
	for i := 0; i < depth-1; i++ {
		want.WriteString(spine(i) + " (")
	}
	want.WriteString(spine(depth - 1))
	for i := depth - 2; i >= 0; i-- {
		want.WriteString(")(" + itoa(2*i+3) + ")")
	}
	want.WriteString(")")
	if got := threadString(msgs, threads); got != want.String() {
		t.Errorf("comb of depth %d: got %.80s..., want %.80s...", depth, got, want.String())
	}
}

// TestMsgIDScan pins how ids are picked out of References and In-Reply-To:
// comments and quoted strings are skipped (RFC 5322 CFWS), an id needs an
// '@', and a '<' that opens no valid id is skipped up to its '>', as
// Dovecot does.
func TestMsgIDScan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		refs, irt string
		want      []string
	}{
		{"<a@x> <b@x>", "", []string{"a@x", "b@x"}},
		{"<a@x>\r\n\t<b\r\n @x>", "", []string{"a@x", "b@x"}}, // folding, even inside
		{"(old <c@x>) <a@x>", "", []string{"a@x"}},
		{"(nested (<c@x>) \\) <d@x>) <a@x>", "", []string{"a@x"}},
		{`"<q@x>" <a@x>`, "", []string{"a@x"}},
		{"<broken <a@x> <b@x>", "", []string{"b@x"}},
		{"<no-at> <@x> <a@> <a@x>", "", []string{"a@x"}},
		{"<unclosed@x", "<a@x>", []string{"a@x"}}, // no valid id in References: In-Reply-To
		{"", `Your message of "Mon, 2 Mar" <a@x> <b@x>`, []string{"a@x"}},
		{"", "(Joe <j@x>) <a@x>", []string{"a@x"}},
		{"", "", nil},
	}
	for _, tt := range tests {
		m := Message{References: tt.refs, InReplyTo: tt.irt}
		if got := m.references(nil); !slices.Equal(got, tt.want) {
			t.Errorf("References %q, In-Reply-To %q: %q, want %q", tt.refs, tt.irt, got, tt.want)
		}
	}
}

// adversarial is a mailbox crafted against the loop check and the pruning:
// one message whose References name a chain of k missing messages, m
// messages with one reply each, and m more whose References hang each of
// those under the bottom of the chain.
func adversarial(k, m int) []Message {
	refs := make([]string, k)
	for i := range refs {
		refs[i] = "<c" + itoa(i) + "@x>"
	}
	msgs := []Message{{Seq: 1, MessageID: "<deep@x>", References: strings.Join(refs, " ")}}
	for j := 0; j < m; j++ {
		msgs = append(msgs,
			Message{Seq: uint32(len(msgs) + 1), MessageID: "<x" + itoa(j) + "@x>"},
			Message{Seq: uint32(len(msgs) + 2), MessageID: "<y" + itoa(j) + "@x>", InReplyTo: "<x" + itoa(j) + "@x>"})
	}
	for j := 0; j < m; j++ {
		msgs = append(msgs, Message{Seq: uint32(len(msgs) + 1), MessageID: "<z" + itoa(j) + "@x>",
			References: "<c" + itoa(k-1) + "@x> <x" + itoa(j) + "@x>"})
	}
	return msgs
}

// TestReferencesAdversarial: the chain of dummies is pruned away and its
// top stays a dummy over everything hung under its bottom. Linking each
// subtree under the deep chain must not walk the chain each time, nor
// pruning copy the children once per level (this took seconds, not tenths).
func TestReferencesAdversarial(t *testing.T) {
	t.Parallel()
	const k, m = 5000, 20000
	msgs := adversarial(k, m)
	threads := References(msgs)
	checkTree(t, len(msgs), threads)
	var want strings.Builder
	want.WriteString("((1)")
	for j := 0; j < m; j++ {
		want.WriteString("(" + itoa(2+2*j) + " (" + itoa(3+2*j) + ")(" + itoa(2+2*m+j) + "))")
	}
	want.WriteString(")")
	if got := threadString(msgs, threads); got != want.String() {
		t.Errorf("got %.100s..., want %.100s...", got, want.String())
	}
}
