package sortthread

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fuzzMessages builds a mailbox from fuzz input: Message-IDs, References and
// In-Reply-To from a small id space, so that duplicates, dangling references
// and loops are frequent, and subjects that gather by base subject.
func fuzzMessages(data []byte) []Message {
	subjects := []string{"", "a", "Re: a", "[l] a", "b", "Fwd: b", "b (fwd)", "[fwd: a]", "Re:"}
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	id := func(b byte) string {
		switch b % 16 {
		case 15:
			return ""
		case 14:
			return "<no-at-sign>"
		case 13:
			return "(<c@x>) <broken"
		}
		return fmt.Sprintf("<%d@x>", b%16)
	}
	var msgs []Message
	for len(data) > 0 && len(msgs) < 200 {
		head := next()
		m := Message{
			Seq:       uint32(len(msgs) + 1),
			UID:       uint32(len(msgs) + 1),
			MessageID: id(head),
			Subject:   subjects[int(next())%len(subjects)],
			Date:      at(int(next() % 8)),
		}
		if head&0x80 != 0 {
			m.Date = m.Date.AddDate(-3, 0, 0) // far apart dates
		}
		if head&0x40 != 0 {
			// No Date header: INTERNALDATE stands in.
			m.InternalDate, m.Date = m.Date, time.Time{}
		}
		var refs []string
		for k := int(next() % 6); k > 0; k-- {
			refs = append(refs, id(next()))
		}
		m.References = strings.Join(refs, " ")
		if head&0x20 != 0 {
			m.InReplyTo = id(next())
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// FuzzReferences: THREAD REFERENCES never panics, places every message
// exactly once, keeps dummies at the top, terminates on reference loops,
// and writes output that reads back by RFC 5256's grammar. ORDEREDSUBJECT is
// checked on the same mailboxes.
func FuzzReferences(f *testing.F) {
	f.Add([]byte{1, 1, 0, 0, 2, 2, 1, 1, 1})
	f.Add([]byte{1, 1, 0, 1, 2, 2, 2, 1, 1, 1, 1, 1, 2})                // a loop
	f.Add([]byte{3, 4, 0, 5, 7, 8, 9, 3, 3, 3, 2, 2, 2, 1, 9, 9, 9, 9}) // dangling references
	f.Add([]byte{0xe1, 2, 3, 4, 1, 1, 1, 0x61, 2, 3, 1, 2, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs := fuzzMessages(data)
		for _, threads := range [][]*Node{References(msgs), OrderedSubject(msgs)} {
			checkTree(t, len(msgs), threads)
			out := AppendThreadLists(nil, threads, BySeq(msgs))
			if len(msgs) == 0 {
				if len(out) != 0 {
					t.Fatalf("no messages, output %q", out)
				}
				continue
			}
			back, err := parseThreads(string(out))
			if err != nil {
				t.Fatalf("output %q does not parse: %v", out, err)
			}
			seen := map[int]int{}
			var walk func(n *Node)
			walk = func(n *Node) {
				if n.Msg >= 0 {
					seen[n.Msg]++
				}
				for _, c := range n.Children {
					walk(c)
				}
			}
			for _, n := range back {
				walk(n)
			}
			for i := range msgs {
				if seen[int(msgs[i].Seq)] != 1 {
					t.Fatalf("output %q has message %d %d times", out, msgs[i].Seq, seen[int(msgs[i].Seq)])
				}
			}
			if len(seen) != len(msgs) {
				t.Fatalf("output %q has %d numbers for %d messages", out, len(seen), len(msgs))
			}
		}
	})
}
