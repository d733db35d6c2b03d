package sortthread

import (
	"slices"
)

// linkNode is a container of RFC 5256 REFERENCES step 1: a message or a
// dummy, linked to its parent and its children through indices so that the
// links of a large mailbox cost no allocation each.
type linkNode struct {
	msg                 int32 // index into msgs, or -1 for a dummy
	parent, first, last int32 // -1 for none
	prev, next          int32 // siblings
}

// linker holds the containers: one per message at the message's own index,
// then the dummies.
type linker struct {
	nodes []linkNode
	ids   map[string]int32
}

func (l *linker) add(msg int32) int32 {
	l.nodes = append(l.nodes, linkNode{msg: msg, parent: -1, first: -1, last: -1, prev: -1, next: -1})
	return int32(len(l.nodes) - 1)
}

// lookup returns the container of a Message ID, creating a dummy for an id
// no message has ("use this dummy message for all subsequent references").
func (l *linker) lookup(id string) int32 {
	if n, ok := l.ids[id]; ok {
		return n
	}
	n := l.add(-1)
	l.ids[id] = n
	return n
}

// descends tells whether a is b or one of its descendants, which is what
// linking b under a would make a loop of.
//
// It walks up from a and, in step, through b's subtree, and stops at the
// first of the two walks to end: the cost is about twice the smaller of a's
// depth and b's subtree, so neither a deep thread nor a large one alone
// makes linking slow (a crafted mailbox that hangs many subtrees under the
// bottom of a 10,000-deep chain would otherwise cost that depth per link).
func (l *linker) descends(a, b int32) bool {
	if a == b {
		return true
	}
	n := l.nodes
	down := n[b].first
	if down < 0 {
		return false // no descendants: the usual case, a reply linked before its own replies
	}
	for up := a; ; {
		up = n[up].parent
		if up == b {
			return true
		}
		if up < 0 {
			return false
		}
		if down == a {
			return true
		}
		// The next container of b's subtree in depth-first order.
		if n[down].first >= 0 {
			down = n[down].first
			continue
		}
		for n[down].next < 0 {
			down = n[down].parent
			if down == b {
				return false
			}
		}
		down = n[down].next
	}
}

func (l *linker) link(parent, child int32) {
	n := l.nodes
	n[child].parent = parent
	n[child].prev = n[parent].last
	n[child].next = -1
	if n[parent].last >= 0 {
		n[n[parent].last].next = child
	} else {
		n[parent].first = child
	}
	n[parent].last = child
}

func (l *linker) unlink(child int32) {
	n := l.nodes
	p := n[child].parent
	if p < 0 {
		return
	}
	if n[child].prev >= 0 {
		n[n[child].prev].next = n[child].next
	} else {
		n[p].first = n[child].next
	}
	if n[child].next >= 0 {
		n[n[child].next].prev = n[child].prev
	} else {
		n[p].last = n[child].prev
	}
	n[child].parent, n[child].prev, n[child].next = -1, -1, -1
}

// References threads msgs by REFERENCES (RFC 5256 section 3), steps 1 to 6.
// It terminates on any input: reference loops are refused link by link.
func References(msgs []Message) []*Node {
	t := newThreadInfo(msgs)
	l := &linker{
		nodes: make([]linkNode, 0, len(msgs)+len(msgs)/4),
		ids:   make(map[string]int32, len(msgs)),
	}
	for i := range msgs {
		l.add(int32(i))
	}
	// Messages are taken in sequence order: of several messages with one
	// Message-ID the lowest sequence number keeps it, the others get a
	// unique id, which here is no entry in the table at all.
	bySeq := make([]int32, len(msgs))
	for i := range bySeq {
		bySeq[i] = int32(i)
	}
	slices.SortStableFunc(bySeq, func(a, b int32) int {
		return int(int64(msgs[a].Seq) - int64(msgs[b].Seq))
	})
	for _, i := range bySeq {
		if id, _, ok := nextMsgID(msgs[i].MessageID); ok {
			if _, dup := l.ids[id]; !dup {
				l.ids[id] = i
			}
		}
	}

	// Step 1: link by references.
	var refs []string
	for _, self := range bySeq {
		refs = msgs[self].references(refs)
		// 1.A: each reference is the parent of the next one, unless the
		// child already has a parent or the link would close a loop.
		for k := 0; k+1 < len(refs); k++ {
			parent, child := l.lookup(refs[k]), l.lookup(refs[k+1])
			if l.nodes[child].parent < 0 && !l.descends(parent, child) {
				l.link(parent, child)
			}
		}
		// 1.B: the last reference is the parent of this message. A parent
		// that a truncated References elsewhere gave it is broken off
		// first, and then the new link is not made if it would close a
		// loop, which leaves the message without a parent (the RFC's
		// order of the two sentences, and Dovecot's). No reference at all
		// leaves it without a parent too.
		if len(refs) == 0 {
			l.unlink(self)
			continue
		}
		parent := l.lookup(refs[len(refs)-1])
		if l.nodes[self].parent == parent {
			continue
		}
		l.unlink(self)
		if !l.descends(parent, self) {
			l.link(parent, self)
		}
	}

	// Steps 2 and 3: the containers without a parent are the root's
	// children; dummies are pruned on the way to the result tree.
	b := &treeBuilder{l: l}
	var roots []*Node
	for i := range l.nodes {
		if l.nodes[i].parent < 0 {
			b.build(int32(i), &roots, true)
		}
	}

	r := &refThreads{t: t, roots: roots}
	r.sortTop()       // step 4
	r.mergeSubjects() // step 5
	r.sortAll()       // step 6
	return r.roots
}

// treeBuilder turns linked containers into Nodes, allocating them in slabs.
type treeBuilder struct {
	l    *linker
	slab []Node
}

func (b *treeBuilder) node(msg int) *Node {
	if len(b.slab) == 0 {
		b.slab = make([]Node, 1024)
	}
	n := &b.slab[0]
	b.slab = b.slab[1:]
	n.Msg = msg
	return n
}

// build appends to *dst what container i becomes after step 3: a message
// keeps its place; a dummy without children goes; a dummy's children take
// its place, except that at the top level they do so only when there is one
// (two or more stay under the dummy so as not to become separate threads).
// A spliced dummy's children are appended straight to the nearest real
// ancestor's list, so a long chain of dummies costs no copying per level, and
// a dummy that reaches the top level has only real children.
func (b *treeBuilder) build(i int32, dst *[]*Node, top bool) {
	n := b.l.nodes
	if m := n[i].msg; m >= 0 {
		node := b.node(int(m))
		for c := n[i].first; c >= 0; c = n[c].next {
			b.build(c, &node.Children, false)
		}
		*dst = append(*dst, node)
		return
	}
	if !top {
		for c := n[i].first; c >= 0; c = n[c].next {
			b.build(c, dst, false)
		}
		return
	}
	var kids []*Node
	for c := n[i].first; c >= 0; c = n[c].next {
		b.build(c, &kids, false)
	}
	switch len(kids) {
	case 0:
	case 1:
		*dst = append(*dst, kids[0])
	default:
		node := b.node(-1)
		node.Children = kids
		*dst = append(*dst, node)
	}
}

// refThreads carries the top level through steps 4 to 6.
type refThreads struct {
	t     *threadInfo
	roots []*Node
}

// first is the message that stands for n in sorting and in subject
// matching: n itself, or a dummy's first child.
func first(n *Node) *Node {
	for n.Msg < 0 && len(n.Children) > 0 {
		n = n.Children[0]
	}
	return n
}

func (r *refThreads) compareNodes(a, b *Node) int {
	fa, fb := first(a), first(b)
	if fa.Msg < 0 || fb.Msg < 0 {
		// A childless dummy: not produced by build, sorted last.
		return -cmpBool(fa.Msg < 0, fb.Msg < 0)
	}
	return r.t.compareSent(fa.Msg, fb.Msg)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// sortTop is step 4: the top level by sent date, a dummy by its earliest
// child.
func (r *refThreads) sortTop() {
	for _, n := range r.roots {
		if n.Msg < 0 {
			slices.SortFunc(n.Children, r.compareNodes)
		}
	}
	slices.SortFunc(r.roots, r.compareNodes)
}

// subjectOf is the thread subject of step 5.B.i, "" to skip.
func (r *refThreads) subjectOf(n *Node) string {
	f := first(n)
	if f.Msg < 0 {
		return ""
	}
	return r.t.subject[f.Msg]
}

func (r *refThreads) isReply(n *Node) bool {
	return n.Msg >= 0 && r.t.reply[n.Msg]
}

// mergeSubjects is step 5: top-level threads with the same base subject are
// gathered, by the rules of 5.B and 5.C.
func (r *refThreads) mergeSubjects() {
	table := make(map[string]int, len(r.roots)) // subject -> index in roots
	for i, n := range r.roots {
		subj := r.subjectOf(n)
		if subj == "" {
			continue
		}
		j, ok := table[subj]
		if !ok {
			table[subj] = i
			continue
		}
		old := r.roots[j]
		if !old.Dummy() && (n.Dummy() || (r.isReply(old) && !r.isReply(n))) {
			table[subj] = i
		}
	}
	for i, n := range r.roots {
		subj := r.subjectOf(n)
		if subj == "" {
			continue
		}
		j := table[subj]
		if j == i {
			continue
		}
		old := r.roots[j]
		switch {
		case old.Dummy() && n.Dummy():
			old.Children = append(old.Children, n.Children...)
		case old.Dummy():
			old.Children = append(old.Children, n)
		case r.isReply(n) && !r.isReply(old):
			old.Children = append(old.Children, n)
		default:
			// Neither is the better parent: a new dummy holds both, in
			// the place of the table's message.
			d := &Node{Msg: -1, Children: []*Node{old, n}}
			r.roots[j] = d
		}
		r.roots[i] = nil
	}
	r.roots = slices.DeleteFunc(r.roots, func(n *Node) bool { return n == nil })
}

// sortAll is step 6: every set of siblings by sent date, deepest first, so a
// dummy is placed by its earliest child.
func (r *refThreads) sortAll() {
	for _, n := range r.roots {
		r.sortBelow(n)
	}
	slices.SortFunc(r.roots, r.compareNodes)
}

func (r *refThreads) sortBelow(n *Node) {
	// Long single-child chains are walked, not recursed into.
	for len(n.Children) == 1 {
		n = n.Children[0]
	}
	if len(n.Children) == 0 {
		return
	}
	for _, c := range n.Children {
		r.sortBelow(c)
	}
	slices.SortFunc(n.Children, r.compareNodes)
}
