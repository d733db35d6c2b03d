// Package storesuite holds tests that every store must pass, written
// against the store package's interfaces only, so that one copy runs on
// SQLite and on PostgreSQL: each driver's tests call the suites with a
// function that opens an empty store of theirs.
package storesuite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"

	"pillarbox/store"
)

// Opener opens an empty store, closed when the test ends.
type Opener func(t *testing.T) store.Store

// Search checks that SEARCH's text keys give exactly what a plain
// case-folded substring test gives, message by message, whatever the
// full-text index proposes: BODY, TEXT, HEADER and FROM alone, and mixed
// with other keys under NOT and OR.
func Search(t *testing.T, open Opener) {
	t.Run("TextMatchesBruteForce", func(t *testing.T) { t.Parallel(); searchText(t, open) })
	t.Run("HeaderMatchesBruteForce", func(t *testing.T) { t.Parallel(); searchHeader(t, open) })
	t.Run("RandomCriteriaMatchBruteForce", func(t *testing.T) { t.Parallel(); searchCriteria(t, open) })
}

// searchDB stores messages in one mailbox of a new store (UID i+1 holds
// headers[i] and bodies[i], parts[i] as its part headers if parts is not
// nil, and froms[i] as its From if froms is not nil) and returns the
// store and the mailbox's id. The index is flushed before the last eighth
// are stored: search must find those too.
func searchDB(t *testing.T, open Opener, headers, bodies, parts []string, froms [][]store.EnvelopeAddress) (store.Store, int64) {
	t.Helper()
	db := open(t)
	db.SetSearchText(NulText)
	mb := newMailbox(t, db, newAccount(t, db, "a@example.org"), "INBOX", "")
	indexed := len(bodies) - len(bodies)/8
	for i := range bodies {
		if i == indexed {
			if err := db.FlushIndex(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		blob := &store.Blob{Data: []byte(headers[i] + "\x00" + bodies[i]), HeaderText: headers[i], BodyText: bodies[i],
			Envelope: []byte("{}"), Structure: []byte("{}")}
		if parts != nil {
			blob.Data = append(blob.Data, "\x00"+parts[i]...)
			blob.PartText = parts[i]
		}
		if froms != nil {
			blob.From = froms[i]
		}
		appendMessage(t, db, mb, blob, int64(len(bodies[i])))
	}
	return db, mb
}

// NulText is the search text function of the stores of the search
// tests: their messages are the header text, the body text and the part
// headers' text, with a NUL between each two (the part headers and the
// NUL before them may be left out).
func NulText(data []byte, withBody bool) store.MessageText {
	h, rest, _ := strings.Cut(string(data), "\x00")
	if !withBody {
		return store.MessageText{Header: h}
	}
	b, p, _ := strings.Cut(rest, "\x00")
	return store.MessageText{Header: h, Body: b, Parts: p}
}

// SearchUIDs runs c in a snapshot and returns the UIDs it matched,
// checking the sequence numbers it gives (the tests' UID i is message i).
func SearchUIDs(t *testing.T, db store.Store, mb int64, c *store.SearchCriteria, withSeq bool) []uint32 {
	t.Helper()
	ctx := context.Background()
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var out []uint32
	err = snap.Search(ctx, mb, c, withSeq, func(uid, seq uint32) error {
		if withSeq && seq != uid {
			return fmt.Errorf("uid %d has seq %d", uid, seq)
		}
		if !withSeq && seq != 0 {
			return fmt.Errorf("uid %d has seq %d without withSeq", uid, seq)
		}
		out = append(out, uid)
		return nil
	})
	if err != nil {
		t.Fatalf("search %+v: %v", c, err)
	}
	return out
}

// The pieces random texts are made of: words in several scripts, the
// characters whose case folding crosses between ASCII and not (Kelvin
// sign, long s), numbers PostgreSQL's parser reads as such, and
// separators of all kinds.
var searchTestPieces = []string{
	"hello", "Hello", "HELLO", "othello", "mail", "email", "e-mail", "café", "CAFÉ", "cafe",
	"straße", "STRASSE", "STRAẞE", "Fußball", "ǅemal", "ǆ", "K", "k", "ſ", "s", "Σίσυφος", "ΣΊΣΥΦΟΣ",
	"ς", "İstanbul", "ıi", "日本語", "テスト", "naïve", "x", "42", "a1b2", "1e5", "E", "0x1F",
	" ", " ", " ", "\n", ", ", ".", "-", "—", "'", "’", "@", "_", "%", "\\", "/", "\u00a0",
}

// RandomText joins n of those pieces at random.
func RandomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(searchTestPieces[r.IntN(len(searchTestPieces))])
	}
	return b.String()
}

// CutNeedle cuts a piece of 1 to max runes from s at a random place and
// varies its case, as a client might type it; "" if s is empty.
func CutNeedle(r *rand.Rand, s string, max int) string {
	runes := []rune(s)
	if len(runes) == 0 {
		return ""
	}
	a := r.IntN(len(runes))
	return VaryCase(r, string(runes[a:min(len(runes), a+1+r.IntN(max))]))
}

// VaryCase changes the case of some characters within their
// folding orbit, as a client might type them.
func VaryCase(r *rand.Rand, s string) string {
	var b strings.Builder
	for _, c := range s {
		for k := r.IntN(3); k > 0; k-- {
			c = unicode.SimpleFold(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

func searchBrute(texts []string, needle string) []uint32 {
	var out []uint32
	for i, s := range texts {
		if strings.Contains(store.Fold(s), store.Fold(needle)) {
			out = append(out, uint32(i+1))
		}
	}
	return out
}

// searchText checks that the full-text index never
// loses a match: Search gives exactly what a plain case-folded substring
// test gives, for needles cut anywhere from the texts. TEXT reads the
// header, the body and the part headers; BODY the body alone, and
// HEADER the message's own header, never a part's.
func searchText(t *testing.T, open Opener) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 60
	headers, bodies, parts := make([]string, n), make([]string, n), make([]string, n)
	for i := range n {
		headers[i] = "Subject: " + RandomText(r, 4) + "\nFrom: " + RandomText(r, 3) + "\n"
		bodies[i] = RandomText(r, 30)
		if i%3 != 0 {
			parts[i] = "Content-Type: application/pdf; name=" + RandomText(r, 2) + "\nSubject: " + RandomText(r, 2) + "\n"
		}
	}
	db, mb := searchDB(t, open, headers, bodies, parts, nil)
	for k := range 400 {
		needle := CutNeedle(r, bodies[r.IntN(n)], 12)
		switch {
		case k%10 == 0:
			needle = RandomText(r, 1+r.IntN(2))
		case k%5 == 3:
			needle = CutNeedle(r, parts[1+3*r.IntN(n/3)], 12)
		}
		got := SearchUIDs(t, db, mb, &store.SearchCriteria{Body: []string{needle}}, k%2 == 0)
		if want := searchBrute(bodies, needle); !slices.Equal(got, want) {
			t.Errorf("BODY %q: got %v, want %v", needle, got, want)
		}
		got = SearchUIDs(t, db, mb, &store.SearchCriteria{Text: []string{needle}}, false)
		want := searchBrute(headers, needle)
		for _, u := range append(searchBrute(bodies, needle), searchBrute(parts, needle)...) {
			if !slices.Contains(want, u) {
				want = append(want, u)
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("TEXT %q: got %v, want %v", needle, got, want)
		}
		got = SearchUIDs(t, db, mb, &store.SearchCriteria{Header: []store.HeaderCriterion{{Field: "Subject", Value: needle}}}, false)
		var subject []uint32
		for i, h := range headers {
			if searchBruteHeader(h, "Subject", needle) {
				subject = append(subject, uint32(i+1))
			}
		}
		if !slices.Equal(got, subject) {
			t.Errorf("SUBJECT %q: got %v, want %v", needle, got, subject)
		}
		got = SearchUIDs(t, db, mb, &store.SearchCriteria{Not: []store.SearchCriteria{{Body: []string{needle}}}}, false)
		var notWant []uint32
		for i := 1; i <= n; i++ {
			if !slices.Contains(searchBrute(bodies, needle), uint32(i)) {
				notWant = append(notWant, uint32(i))
			}
		}
		if !slices.Equal(got, notWant) {
			t.Errorf("NOT BODY %q: got %v, want %v", needle, got, notWant)
		}
	}
}

// searchBruteHeader is the HEADER key's meaning: some field named field
// has a value containing needle, ignoring case.
func searchBruteHeader(header, field, needle string) bool {
	for line := range strings.SplitSeq(header, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), field) && strings.Contains(store.Fold(value), store.Fold(needle)) {
			return true
		}
	}
	return false
}

// searchHeader checks HEADER keys through Search,
// with the full-text index as their prefilter, against
// searchBruteHeader.
func searchHeader(t *testing.T, open Opener) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 40
	headers, bodies := make([]string, n), make([]string, n)
	for i := range n {
		headers[i] = "Subject: " + RandomText(r, 5) + "\nReply-To: " + RandomText(r, 4) + "\nX-Empty:\n"
		bodies[i] = RandomText(r, 5)
	}
	db, mb := searchDB(t, open, headers, bodies, nil, nil)
	for k := range 150 {
		field := []string{"Subject", "reply-TO", "X-EMPTY", "Keywords"}[r.IntN(4)]
		needle := CutNeedle(r, headers[r.IntN(n)], 14)
		if k%10 == 0 {
			needle = ""
		}
		var want []uint32
		for i, h := range headers {
			if searchBruteHeader(h, field, needle) {
				want = append(want, uint32(i+1))
			}
		}
		got := SearchUIDs(t, db, mb, &store.SearchCriteria{Header: []store.HeaderCriterion{{Field: field, Value: needle}}}, k%2 == 0)
		if !slices.Equal(got, want) {
			t.Errorf("HEADER %s %q: got %v, want %v", field, needle, got, want)
		}
	}
}

// RandomAddresses makes an address list of up to four entries:
// names of any script and case, plain addresses, addresses without a
// domain and groups.
func RandomAddresses(r *rand.Rand) []store.EnvelopeAddress {
	locals := []string{"alice", "Bob.Smith", "x", "info+tag", "o'neil", "ſki"}
	hosts := []string{"example.org", "EXAMPLE.com", "mail.example.net", store.MissingHost}
	one := func() store.EnvelopeAddress {
		a := store.EnvelopeAddress{Mailbox: locals[r.IntN(len(locals))], Host: hosts[r.IntN(len(hosts))]}
		if r.IntN(2) == 0 {
			a.Name = strings.TrimSpace(RandomText(r, 1+r.IntN(3)))
		}
		return a
	}
	var out []store.EnvelopeAddress
	for range r.IntN(5) {
		if r.IntN(4) == 0 {
			out = append(out, store.EnvelopeAddress{Mailbox: "Team " + RandomText(r, 1)})
			for range r.IntN(3) {
				out = append(out, one())
			}
			out = append(out, store.EnvelopeAddress{})
			continue
		}
		out = append(out, one())
	}
	return out
}

// searchCriteria runs random criteria that mix
// text keys with other keys under NOT and OR, and compares Search's
// answers with evaluating the criteria message by message.
func searchCriteria(t *testing.T, open Opener) {
	r := rand.New(rand.NewPCG(8, 9))
	const n = 30
	headers, bodies := make([]string, n), make([]string, n)
	for i := range n {
		headers[i] = "Subject: " + RandomText(r, 4) + "\nFrom: " + RandomText(r, 2) + "\n"
		bodies[i] = RandomText(r, 12)
	}
	froms := make([][]store.EnvelopeAddress, n)
	for i := range n {
		froms[i] = RandomAddresses(r)
	}
	db, mb := searchDB(t, open, headers, bodies, nil, froms)
	write(t, db, func(tx store.Tx) error {
		_, err := tx.SetFlags(mb, []store.UIDRange{{Start: 1, Stop: 10}, {Start: 20, Stop: 25}}, store.FlagsAdd, store.FlagSeen, nil)
		return err
	})
	seen := func(uid int) bool { return uid <= 10 || 20 <= uid && uid <= 25 }
	needle := func() string {
		return CutNeedle(r, []string{headers[r.IntN(n)], bodies[r.IntN(n)]}[r.IntN(2)], 6)
	}
	type node struct {
		c    store.SearchCriteria
		eval func(i int) bool // message i (UID i+1)
	}
	var gen func(depth int) node
	gen = func(depth int) node {
		switch k := r.IntN(10); {
		case k == 8:
			s := CutNeedle(r, store.AddressText(froms[r.IntN(n)]), 8)
			if s == "" {
				s = "x"
			}
			return node{store.SearchCriteria{Header: []store.HeaderCriterion{{Field: "FROM", Value: s}}}, func(i int) bool {
				return strings.Contains(store.AddressText(froms[i]), store.Fold(s))
			}}
		case k == 0:
			s := needle()
			return node{store.SearchCriteria{Body: []string{s}}, func(i int) bool { return strings.Contains(store.Fold(bodies[i]), store.Fold(s)) }}
		case k == 1:
			s := needle()
			return node{store.SearchCriteria{Text: []string{s}}, func(i int) bool {
				return strings.Contains(store.Fold(bodies[i]), store.Fold(s)) || strings.Contains(store.Fold(headers[i]), store.Fold(s))
			}}
		case k == 2:
			s := needle()
			return node{store.SearchCriteria{Header: []store.HeaderCriterion{{Field: "subject", Value: s}}}, func(i int) bool { return searchBruteHeader(headers[i], "Subject", s) }}
		case k == 3:
			lo := uint32(1 + r.IntN(n))
			hi := lo + uint32(r.IntN(10))
			return node{store.SearchCriteria{UIDs: [][]store.UIDRange{{{Start: lo, Stop: hi}}}}, func(i int) bool { return lo <= uint32(i+1) && uint32(i+1) <= hi }}
		case k == 4:
			return node{store.SearchCriteria{Flags: store.FlagSeen}, func(i int) bool { return seen(i + 1) }}
		case k == 5 || depth == 0:
			return node{store.SearchCriteria{NotFlags: store.FlagSeen}, func(i int) bool { return !seen(i + 1) }}
		case k == 6:
			a := gen(depth - 1)
			return node{store.SearchCriteria{Not: []store.SearchCriteria{a.c}}, func(i int) bool { return !a.eval(i) }}
		case k == 7:
			a, b := gen(depth-1), gen(depth-1)
			return node{store.SearchCriteria{Or: [][2]store.SearchCriteria{{a.c, b.c}}}, func(i int) bool { return a.eval(i) || b.eval(i) }}
		default: // AND: b's keys added to a's
			a, b := gen(depth-1), gen(depth-1)
			c := a.c
			c.Body = append(slices.Clone(c.Body), b.c.Body...)
			c.Text = append(slices.Clone(c.Text), b.c.Text...)
			c.Header = append(slices.Clone(c.Header), b.c.Header...)
			c.UIDs = append(slices.Clone(c.UIDs), b.c.UIDs...)
			c.Flags |= b.c.Flags
			c.NotFlags |= b.c.NotFlags
			c.Not = append(slices.Clone(c.Not), b.c.Not...)
			c.Or = append(slices.Clone(c.Or), b.c.Or...)
			return node{c, func(i int) bool { return a.eval(i) && b.eval(i) }}
		}
	}
	for k := range 150 {
		nd := gen(2 + r.IntN(4))
		var want []uint32
		for i := range n {
			if nd.eval(i) {
				want = append(want, uint32(i+1))
			}
		}
		if got := SearchUIDs(t, db, mb, &nd.c, k%2 == 0); !slices.Equal(got, want) {
			t.Errorf("%+v (%d text keys): got %v, want %v", nd.c, nd.c.Size().TextKeys, got, want)
		}
	}
}
