package sortthread

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// base is the clock the synthetic messages are dated from.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at is base plus h hours.
func at(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }

// threadString is the wire form of threads with sequence numbers.
func threadString(msgs []Message, threads []*Node) string {
	return string(AppendThreadLists(nil, threads, BySeq(msgs)))
}

// checkTree verifies what every THREAD result must satisfy: each of the n
// messages exactly once, dummies only at the top level with two or more
// children, no dummy below.
func checkTree(t testing.TB, n int, threads []*Node) {
	t.Helper()
	seen := make([]int, n)
	var walk func(nd *Node, top bool)
	walk = func(nd *Node, top bool) {
		if nd.Msg < 0 {
			if !top {
				t.Errorf("dummy below the top level")
			} else if len(nd.Children) < 2 {
				t.Errorf("top-level dummy with %d children", len(nd.Children))
			}
		} else if nd.Msg >= n {
			t.Fatalf("message index %d out of range %d", nd.Msg, n)
		} else {
			seen[nd.Msg]++
		}
		for _, c := range nd.Children {
			walk(c, false)
		}
	}
	for _, nd := range threads {
		walk(nd, true)
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("message %d appears %d times", i, c)
		}
	}
}

// parseThreads reads the RFC 5256 section 4 thread-list syntax back into
// nodes (numbers as Msg, -1 for a nested list without a number), so that
// output can be checked against the grammar independently of the writer.
func parseThreads(s string) ([]*Node, error) {
	p := &threadParser{s: s}
	var out []*Node
	for p.i < len(p.s) {
		n, err := p.list()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

type threadParser struct {
	s string
	i int
}

// list parses "(" (thread-members / thread-nested) ")".
func (p *threadParser) list() (*Node, error) {
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return nil, fmt.Errorf("at %d: want '('", p.i)
	}
	p.i++
	root := &Node{Msg: -1}
	cur := root
	first := true
	for {
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated list")
		}
		switch c := p.s[p.i]; {
		case c == ')':
			if first {
				return nil, fmt.Errorf("at %d: empty list", p.i)
			}
			p.i++
			return root, nil
		case c == '(':
			// thread-nested: 2*thread-list, ending this list.
			var kids []*Node
			for p.i < len(p.s) && p.s[p.i] == '(' {
				k, err := p.list()
				if err != nil {
					return nil, err
				}
				kids = append(kids, k)
			}
			if len(kids) < 2 {
				return nil, fmt.Errorf("at %d: thread-nested with %d lists", p.i, len(kids))
			}
			cur.Children = kids
			if p.i >= len(p.s) || p.s[p.i] != ')' {
				return nil, fmt.Errorf("at %d: want ')' after nested lists", p.i)
			}
			p.i++
			return root, nil
		case c >= '1' && c <= '9':
			j := p.i
			for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
				j++
			}
			v, err := strconv.Atoi(p.s[p.i:j])
			if err != nil {
				return nil, err
			}
			p.i = j
			if first {
				root.Msg = v
			} else {
				nd := &Node{Msg: v}
				cur.Children = []*Node{nd}
				cur = nd
			}
			first = false
			if p.i < len(p.s) && p.s[p.i] == ' ' {
				p.i++
				if p.i >= len(p.s) || p.s[p.i] == ')' {
					return nil, fmt.Errorf("at %d: space before ')'", p.i)
				}
			} else if p.i < len(p.s) && p.s[p.i] != ')' {
				return nil, fmt.Errorf("at %d: want ' ' or ')'", p.i)
			}
		default:
			return nil, fmt.Errorf("at %d: unexpected %q", p.i, c)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
