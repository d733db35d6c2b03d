package sortthread

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Node is one position in a thread tree. Msg is an index into the []Message
// given to Thread, or -1 for a dummy: a parent that is not among the threaded
// messages (RFC 5256 section 3). Thread returns dummies only at the top
// level, each with at least two children, all of them real messages.
type Node struct {
	Msg      int
	Children []*Node
}

// Dummy tells whether n stands for a missing message.
func (n *Node) Dummy() bool { return n.Msg < 0 }

// Thread runs the threading algorithm alg (ORDEREDSUBJECT or REFERENCES,
// RFC 5256 section 3) over msgs, the messages the THREAD command's search
// matched, and returns the threads in order: the children of the RFC's root.
// Each message appears exactly once; a message referenced but not in msgs is
// a dummy, as the RFC says for a Message ID no message has.
func Thread(alg imap.ThreadAlgorithm, msgs []Message) ([]*Node, error) {
	switch alg {
	case imap.ThreadOrderedSubject:
		return OrderedSubject(msgs), nil
	case imap.ThreadReferences:
		return References(msgs), nil
	}
	return nil, fmt.Errorf("sortthread: unknown threading algorithm %q", alg)
}

// threadInfo is what both algorithms compare, computed once per message.
type threadInfo struct {
	msgs    []Message
	sent    []time.Time
	subject []string // collation key of the base subject
	reply   []bool
}

func newThreadInfo(msgs []Message) *threadInfo {
	t := &threadInfo{
		msgs:    msgs,
		sent:    make([]time.Time, len(msgs)),
		subject: make([]string, len(msgs)),
		reply:   make([]bool, len(msgs)),
	}
	for i := range msgs {
		t.sent[i] = msgs[i].sentDate()
		base, reply := BaseSubject(msgs[i].Subject)
		t.subject[i] = CollationKey(base)
		t.reply[i] = reply
	}
	return t
}

// compareSent orders messages by sent date, then sequence number (RFC 5256
// section 2.2), then input position so that the order is total.
func (t *threadInfo) compareSent(a, b int) int {
	if c := t.sent[a].Compare(t.sent[b]); c != 0 {
		return c
	}
	if c := cmp.Compare(t.msgs[a].Seq, t.msgs[b].Seq); c != 0 {
		return c
	}
	return cmp.Compare(a, b)
}

// OrderedSubject threads msgs by ORDEREDSUBJECT (RFC 5256 section 3): the
// messages sorted by base subject then sent date, one thread per base
// subject whose first message is the parent of all the others, threads
// ordered by the sent date of their first message.
func OrderedSubject(msgs []Message) []*Node {
	t := newThreadInfo(msgs)
	order := make([]int, len(msgs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(t.subject[a], t.subject[b]); c != 0 {
			return c
		}
		return t.compareSent(a, b)
	})
	slab := make([]Node, len(msgs))
	var threads []*Node
	for i, m := range order {
		n := &slab[i]
		n.Msg = m
		if len(threads) > 0 {
			head := threads[len(threads)-1]
			if t.subject[head.Msg] == t.subject[m] {
				head.Children = append(head.Children, n)
				continue
			}
		}
		threads = append(threads, n)
	}
	slices.SortFunc(threads, func(a, b *Node) int { return t.compareSent(a.Msg, b.Msg) })
	return threads
}
