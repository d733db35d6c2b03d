package sortthread

import (
	"io"
	"strconv"
)

// AppendThreadLists appends threads in the syntax of RFC 5256 section 4,
// 1*thread-list, for example "(2)(3 6 (4 23)(44 7 96))", with number giving
// each message's number on the wire (its sequence number or its UID). The
// caller writes "* THREAD" and, when threads is not empty, a space before it.
//
// A chain of only children is written flat, a parent of two or more as
// nested lists, and a dummy as no number at all, so that a top-level dummy
// comes out as "((3)(5))" (thread-nested as the first member).
func AppendThreadLists(dst []byte, threads []*Node, number func(msg int) uint32) []byte {
	for _, n := range threads {
		dst = appendThreadList(dst, n, number)
	}
	return dst
}

func appendThreadList(dst []byte, n *Node, number func(int) uint32) []byte {
	dst = append(dst, '(')
	dst = appendMembers(dst, n, number)
	return append(dst, ')')
}

func appendMembers(dst []byte, n *Node, number func(int) uint32) []byte {
	wrote := false
	for {
		if n.Msg >= 0 {
			if wrote {
				dst = append(dst, ' ')
			}
			dst = strconv.AppendUint(dst, uint64(number(n.Msg)), 10)
			wrote = true
		}
		switch len(n.Children) {
		case 0:
			return dst
		case 1:
			n = n.Children[0]
			continue
		}
		if wrote {
			dst = append(dst, ' ')
		}
		for _, c := range n.Children {
			dst = appendThreadList(dst, c, number)
		}
		return dst
	}
}

// WriteThreadLists writes what AppendThreadLists appends to w, a thread at a
// time, so that a large answer is not held whole in memory.
func WriteThreadLists(w io.Writer, threads []*Node, number func(msg int) uint32) error {
	var buf []byte
	for _, n := range threads {
		buf = appendThreadList(buf, n, number)
		if len(buf) >= 4096 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		_, err := w.Write(buf)
		return err
	}
	return nil
}

// BySeq and ByUID are the usual number functions for AppendThreadLists:
// THREAD answers with sequence numbers, UID THREAD with UIDs.
func BySeq(msgs []Message) func(int) uint32 {
	return func(i int) uint32 { return msgs[i].Seq }
}

// ByUID: see BySeq.
func ByUID(msgs []Message) func(int) uint32 {
	return func(i int) uint32 { return msgs[i].UID }
}
