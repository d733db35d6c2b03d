package sortthread

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// seqs turns Sort's indices into the sequence numbers a SORT response lists.
func seqs(msgs []Message, order []int) []uint32 {
	out := make([]uint32, len(order))
	for i, o := range order {
		out[i] = msgs[o].Seq
	}
	return out
}

func mustSort(t *testing.T, msgs []Message, crit ...Criterion) []uint32 {
	t.Helper()
	order, err := Sort(msgs, crit)
	if err != nil {
		t.Fatalf("Sort: %v", err)
	}
	return seqs(msgs, order)
}

// TestSortSubjectReverseDate builds a mailbox for which RFC 5256 section 5's
// "SORT (SUBJECT REVERSE DATE)" answer "5 3 4 1 2" is right: two base
// subjects ("a" before "b", whatever their case or "Re:"), newest first in
// each.
func TestSortSubjectReverseDate(t *testing.T) {
	t.Parallel()
	msgs := []Message{
		{Seq: 1, Subject: "b", Date: at(1)},
		{Seq: 2, Subject: "Re: B", Date: at(0)},
		{Seq: 3, Subject: "a", Date: at(1)},
		{Seq: 4, Subject: "[list] A", Date: at(0)},
		{Seq: 5, Subject: "Re: a", Date: at(2)},
	}
	got := mustSort(t, msgs, Criterion{Key: KeySubject}, Criterion{Key: KeyDate, Reverse: true})
	if want := []uint32{5, 3, 4, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("SORT (SUBJECT REVERSE DATE) = %v, want %v", got, want)
	}
}

// TestSortReverseKeepsSeqTieBreak: REVERSE turns one key round, not the
// implicit sequence-number key (RFC 5256 section 3), so REVERSE SUBJECT is
// not SUBJECT read backwards.
func TestSortReverseKeepsSeqTieBreak(t *testing.T) {
	t.Parallel()
	msgs := []Message{
		{Seq: 1, Subject: "x"}, {Seq: 2, Subject: "y"}, {Seq: 3, Subject: "x"}, {Seq: 4, Subject: "y"},
	}
	if got, want := mustSort(t, msgs, Criterion{Key: KeySubject}), []uint32{1, 3, 2, 4}; !slices.Equal(got, want) {
		t.Errorf("SUBJECT = %v, want %v", got, want)
	}
	if got, want := mustSort(t, msgs, Criterion{Key: KeySubject, Reverse: true}), []uint32{2, 4, 1, 3}; !slices.Equal(got, want) {
		t.Errorf("REVERSE SUBJECT = %v, want %v", got, want)
	}
}

func TestSortKeys(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("east", 5*3600)
	msgs := []Message{
		{Seq: 1, InternalDate: at(5), Date: at(3), Size: 300,
			From: Address{Name: "Zed", Mailbox: "alice", Host: "z.example"},
			To:   Address{Mailbox: "carol", Host: "c.example"},
			Cc:   Address{Mailbox: "Bob"}},
		{Seq: 2, InternalDate: at(1), Size: 100, // no Date: sent date is INTERNALDATE
			From: Address{Name: "al", Mailbox: "bob", Host: "a.example"},
			To:   Address{Name: "  ", Mailbox: "Dave", Host: "d.example"}}, // blank name counts as none
		{Seq: 3, InternalDate: at(2), Date: at(4).In(zone), Size: 200, // zones do not matter, instants do
			From: Address{Mailbox: "Alice", Host: "a.example"},
			To:   Address{Name: "Carla", Mailbox: "zz", Host: "z.example"},
			Cc:   Address{Mailbox: "adam"}},
		{Seq: 4, InternalDate: at(0), Date: at(2), Size: 200}, // no addresses: empty strings sort first
	}
	tests := []struct {
		key  Key
		want []uint32
	}{
		{KeyArrival, []uint32{4, 2, 3, 1}},
		{KeyDate, []uint32{2, 4, 1, 3}},
		{KeySize, []uint32{2, 3, 4, 1}},
		// addr-mailbox only, case mapped: "" < ALICE = ALICE < BOB.
		{KeyFrom, []uint32{4, 1, 3, 2}},
		{KeyTo, []uint32{4, 1, 2, 3}},          // "" < CAROL < DAVE < ZZ
		{KeyCc, []uint32{2, 4, 3, 1}},          // "" "" < ADAM < BOB
		{KeyDisplayFrom, []uint32{4, 2, 3, 1}}, // "" < AL < ALICE@A.EXAMPLE < ZED
		{KeyDisplayTo, []uint32{4, 3, 1, 2}},   // "" < CARLA < CAROL@C.EXAMPLE < DAVE@D.EXAMPLE
	}
	for _, tt := range tests {
		if got := mustSort(t, msgs, Criterion{Key: tt.key}); !slices.Equal(got, tt.want) {
			t.Errorf("SORT (%s) = %v, want %v", tt.key, got, tt.want)
		}
		// REVERSE reverses wherever the key differs; only ties keep
		// ascending sequence numbers.
		rev := mustSort(t, msgs, Criterion{Key: tt.key, Reverse: true})
		checkSorted(t, msgs, rev, []Criterion{{Key: tt.key, Reverse: true}})
	}
}

func TestSortMultipleKeys(t *testing.T) {
	t.Parallel()
	msgs := []Message{
		{Seq: 1, Size: 10, From: Address{Mailbox: "b"}},
		{Seq: 2, Size: 20, From: Address{Mailbox: "a"}},
		{Seq: 3, Size: 10, From: Address{Mailbox: "a"}},
		{Seq: 4, Size: 20, From: Address{Mailbox: "b"}},
	}
	got := mustSort(t, msgs, Criterion{Key: KeyFrom}, Criterion{Key: KeySize, Reverse: true})
	if want := []uint32{2, 3, 4, 1}; !slices.Equal(got, want) {
		t.Errorf("SORT (FROM REVERSE SIZE) = %v, want %v", got, want)
	}
}

func TestSortErrors(t *testing.T) {
	t.Parallel()
	if _, err := Sort(nil, nil); !errors.Is(err, ErrNoCriteria) {
		t.Errorf("Sort with no criteria: err = %v, want ErrNoCriteria", err)
	}
	if _, err := Sort([]Message{{Seq: 1}}, []Criterion{{Key: "FLAGS"}}); err == nil || !strings.HasPrefix(err.Error(), "sortthread: ") {
		t.Errorf("Sort by FLAGS: err = %v, want a sortthread error", err)
	}
	if order, err := Sort(nil, []Criterion{{Key: KeyDate}}); err != nil || len(order) != 0 {
		t.Errorf("Sort of nothing = %v, %v", order, err)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"arrival", "Cc", "DATE", "from", "size", "subject", "to", "displayfrom", "DisplayTo"} {
		k, ok := ParseKey(s)
		if !ok || string(k) != strings.ToUpper(s) {
			t.Errorf("ParseKey(%q) = %q, %v", s, k, ok)
		}
	}
	for _, s := range []string{"", "REVERSE", "FLAGS", "display from", "MODSEQ"} {
		if k, ok := ParseKey(s); ok {
			t.Errorf("ParseKey(%q) = %q, true; want false", s, k)
		}
	}
}

// TestSortRandom checks Sort against a comparison written out separately,
// over random mailboxes and random criteria.
func TestSortRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []Key{KeyArrival, KeyCc, KeyDate, KeyFrom, KeySize, KeySubject, KeyTo, KeyDisplayFrom, KeyDisplayTo}
	subjects := []string{"", "a", "Re: a", "B", "[l] b", "Fwd: c", "c (fwd)"}
	names := []string{"", "ann", "Ann", "bob", "Émile"}
	for round := 0; round < 200; round++ {
		n := rng.IntN(40)
		msgs := make([]Message, n)
		for i := range msgs {
			msgs[i] = Message{
				Seq:          uint32(n - i), // input not in sequence order
				InternalDate: at(rng.IntN(5)),
				Size:         int64(rng.IntN(4)),
				Subject:      subjects[rng.IntN(len(subjects))],
				From:         Address{Name: names[rng.IntN(len(names))], Mailbox: names[rng.IntN(len(names))], Host: "h"},
				To:           Address{Mailbox: names[rng.IntN(len(names))]},
				Cc:           Address{Name: names[rng.IntN(len(names))]},
			}
			if rng.IntN(2) == 0 {
				msgs[i].Date = at(rng.IntN(5))
			}
		}
		crit := make([]Criterion, 1+rng.IntN(3))
		for i := range crit {
			crit[i] = Criterion{Key: keys[rng.IntN(len(keys))], Reverse: rng.IntN(2) == 0}
		}
		order, err := Sort(msgs, crit)
		if err != nil {
			t.Fatal(err)
		}
		checkSorted(t, msgs, seqs(msgs, order), crit)
	}
}

// checkSorted verifies that the messages, listed by sequence number, are a
// permutation of msgs in which every neighbouring pair is in order.
func checkSorted(t *testing.T, msgs []Message, got []uint32, crit []Criterion) {
	t.Helper()
	bySeq := map[uint32]*Message{}
	for i := range msgs {
		bySeq[msgs[i].Seq] = &msgs[i]
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d results for %d messages", len(got), len(msgs))
	}
	seen := map[uint32]bool{}
	for _, s := range got {
		if seen[s] || bySeq[s] == nil {
			t.Fatalf("result %v is not a permutation", got)
		}
		seen[s] = true
	}
	for i := 1; i < len(got); i++ {
		a, b := bySeq[got[i-1]], bySeq[got[i]]
		if c := refCompare(a, b, crit); c > 0 {
			t.Fatalf("criteria %v: %d before %d out of order in %v", crit, a.Seq, b.Seq, got)
		}
	}
}

// refCompare is the comparison RFC 5256 section 3 describes, spelt out
// without Sort's precomputed columns.
func refCompare(a, b *Message, crit []Criterion) int {
	for _, c := range crit {
		var r int
		switch c.Key {
		case KeyArrival:
			r = a.InternalDate.Compare(b.InternalDate)
		case KeyDate:
			da, db := a.Date, b.Date
			if da.IsZero() {
				da = a.InternalDate
			}
			if db.IsZero() {
				db = b.InternalDate
			}
			r = da.Compare(db)
		case KeySize:
			r = int(a.Size - b.Size)
		default:
			r = strings.Compare(CollationKey(stringKey(a, c.Key)), CollationKey(stringKey(b, c.Key)))
		}
		if c.Reverse {
			r = -r
		}
		if r != 0 {
			return r
		}
	}
	return int(a.Seq) - int(b.Seq)
}
