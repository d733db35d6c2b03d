package sortthread

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// rfcTree is the example of RFC 5256 section 4, "(2)(3 6 (4 23)(44 7 96))",
// with Msg holding the numbers themselves.
func rfcTree() []*Node {
	leaf := func(m int, kids ...*Node) *Node { return &Node{Msg: m, Children: kids} }
	return []*Node{
		leaf(2),
		leaf(3, leaf(6, leaf(4, leaf(23)), leaf(44, leaf(7, leaf(96))))),
	}
}

func identity(m int) uint32 { return uint32(m) }

func TestAppendThreadLists(t *testing.T) {
	t.Parallel()
	leaf := func(m int, kids ...*Node) *Node { return &Node{Msg: m, Children: kids} }
	tests := []struct {
		threads []*Node
		want    string
	}{
		{nil, ""},
		{rfcTree(), "(2)(3 6 (4 23)(44 7 96))"},
		{[]*Node{leaf(-1, leaf(3), leaf(5))}, "((3)(5))"},              // a top-level dummy
		{[]*Node{leaf(1, leaf(2, leaf(3)))}, "(1 2 3)"},                // a chain is flat
		{[]*Node{leaf(1, leaf(2), leaf(3), leaf(4))}, "(1 (2)(3)(4))"}, // ORDEREDSUBJECT's shape
		{[]*Node{leaf(-1, leaf(3, leaf(4)), leaf(5))}, "((3 4)(5))"},
		{[]*Node{leaf(4294967295)}, "(4294967295)"},
	}
	for _, tt := range tests {
		got := string(AppendThreadLists(nil, tt.threads, identity))
		if got != tt.want {
			t.Errorf("AppendThreadLists = %q, want %q", got, tt.want)
		}
		var buf bytes.Buffer
		if err := WriteThreadLists(&buf, tt.threads, identity); err != nil || buf.String() != tt.want {
			t.Errorf("WriteThreadLists = %q, %v; want %q", buf.String(), err, tt.want)
		}
		if tt.want == "" {
			continue
		}
		// What was written reads back, by the grammar, as the same tree.
		back, err := parseThreads(got)
		if err != nil {
			t.Fatalf("parse %q: %v", got, err)
		}
		if again := string(AppendThreadLists(nil, back, identity)); again != got {
			t.Errorf("%q read back and written again: %q", got, again)
		}
	}
}

func TestThreadNumbers(t *testing.T) {
	t.Parallel()
	msgs := []Message{tm(1, 0, "a", "a", ""), tm(2, 1, "b", "b", "a")}
	threads := References(msgs)
	if got := string(AppendThreadLists(nil, threads, BySeq(msgs))); got != "(1 2)" {
		t.Errorf("by sequence number: %s", got)
	}
	if got := string(AppendThreadLists(nil, threads, ByUID(msgs))); got != "(101 102)" {
		t.Errorf("by UID: %s", got)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("broken pipe")
}

// TestWriteThreadListsLarge writes an answer larger than the writer's chunk
// and checks that it is whole, and that a write error comes back.
func TestWriteThreadListsLarge(t *testing.T) {
	t.Parallel()
	threads := make([]*Node, 5000)
	for i := range threads {
		threads[i] = &Node{Msg: i + 1}
	}
	var buf bytes.Buffer
	if err := WriteThreadLists(&buf, threads, identity); err != nil {
		t.Fatal(err)
	}
	if want := string(AppendThreadLists(nil, threads, identity)); buf.String() != want {
		t.Errorf("WriteThreadLists wrote %d bytes, want the %d of AppendThreadLists", buf.Len(), len(want))
	}
	if n := strings.Count(buf.String(), "("); n != len(threads) {
		t.Errorf("%d threads written, want %d", n, len(threads))
	}
	w := &failWriter{}
	if err := WriteThreadLists(w, threads, identity); err == nil || w.n != 1 {
		t.Errorf("WriteThreadLists to a failing writer: err = %v after %d writes", err, w.n)
	}
}
