package sortthread

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// synthetic makes a mailbox of n messages that looks like a busy mailing
// list archive: threads of 1 to 40 messages, each reply with the full
// References chain of its parent, one parent in twenty deleted (referenced
// but absent), list tags and "Re:" in subjects, a tenth of them encoded
// words, and arrival a little after the Date.
func synthetic(n int) []Message {
	rng := rand.New(rand.NewPCG(5256, 5957))
	msgs := make([]Message, 0, n)
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	type sent struct {
		id   string
		refs string
	}
	var open [][]sent // threads still being replied to
	topic := 0
	for k := 0; len(msgs) < n; k++ {
		date := start.Add(time.Duration(k) * 97 * time.Second)
		var m Message
		var me sent
		if len(open) == 0 || rng.IntN(6) == 0 {
			topic++
			me = sent{id: fmt.Sprintf("<t%d.%d@lists.example.org>", topic, k)}
			m.Subject = fmt.Sprintf("[dev] topic %d", topic)
			open = append(open, []sent{me})
			if len(open) > 50 {
				open = open[1:]
			}
		} else {
			ti := rng.IntN(len(open))
			th := open[ti]
			parent := th[rng.IntN(len(th))]
			refs := parent.refs
			if refs != "" {
				refs += "\r\n "
			}
			refs += parent.id
			me = sent{id: fmt.Sprintf("<r%d@mail%d.example.net>", k, rng.IntN(100)), refs: refs}
			m.References = refs
			m.InReplyTo = parent.id
			root := th[0].id
			m.Subject = "Re: [dev] topic " + root[2:strings.IndexByte(root, '.')]
			open[ti] = append(th, me)
			if len(open[ti]) >= 40 {
				open = append(open[:ti], open[ti+1:]...)
			}
		}
		if rng.IntN(20) == 0 {
			continue // deleted: referenced, never delivered
		}
		if rng.IntN(10) == 0 {
			m.Subject = "=?UTF-8?Q?" + strings.ReplaceAll(m.Subject, " ", "_") + "_=C3=A9t=C3=A9?="
		}
		m.Seq = uint32(len(msgs) + 1)
		m.UID = m.Seq + 1000
		m.MessageID = me.id
		m.Date = date
		m.InternalDate = date.Add(time.Duration(rng.IntN(300)) * time.Second)
		m.Size = int64(1000 + rng.IntN(100000))
		u := rng.IntN(500)
		m.From = Address{Name: fmt.Sprintf("User %d", u), Mailbox: fmt.Sprintf("user%d", u), Host: "example.net"}
		m.To = Address{Mailbox: "dev", Host: "lists.example.org"}
		if rng.IntN(3) == 0 {
			m.Cc = Address{Mailbox: fmt.Sprintf("user%d", rng.IntN(500)), Host: "example.net"}
		}
		msgs = append(msgs, m)
	}
	return msgs
}

const benchN = 100000

func BenchmarkThreadReferences(b *testing.B) {
	msgs := synthetic(benchN)
	var threads []*Node
	for b.Loop() {
		threads = References(msgs)
	}
	b.ReportMetric(float64(len(threads)), "threads")
	checkTree(b, len(msgs), threads)
}

func BenchmarkThreadOrderedSubject(b *testing.B) {
	msgs := synthetic(benchN)
	for b.Loop() {
		OrderedSubject(msgs)
	}
}

func BenchmarkSort(b *testing.B) {
	msgs := synthetic(benchN)
	for _, crit := range [][]Criterion{
		{{Key: KeyArrival}},
		{{Key: KeyDate, Reverse: true}},
		{{Key: KeySubject}, {Key: KeyDate}},
		{{Key: KeyFrom}},
		{{Key: KeyDisplayFrom}},
		{{Key: KeySize}},
	} {
		name := ""
		for _, c := range crit {
			if c.Reverse {
				name += "REVERSE_"
			}
			name += string(c.Key) + "_"
		}
		b.Run(strings.TrimSuffix(name, "_"), func(b *testing.B) {
			for b.Loop() {
				if _, err := Sort(msgs, crit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendThreadLists(b *testing.B) {
	msgs := synthetic(benchN)
	threads, err := Thread(imap.ThreadReferences, msgs)
	if err != nil {
		b.Fatal(err)
	}
	num := ByUID(msgs)
	var buf []byte
	for b.Loop() {
		buf = AppendThreadLists(buf[:0], threads, num)
	}
	b.SetBytes(int64(len(buf)))
}

// TestSyntheticThreads checks the benchmark's mailbox threads as built: as
// many top-level threads as topics that have a message left, give or take
// the ones whose root was deleted with several replies (kept under a dummy).
func TestSyntheticThreads(t *testing.T) {
	t.Parallel()
	msgs := synthetic(5000)
	threads := References(msgs)
	checkTree(t, len(msgs), threads)
	topics := map[string]bool{}
	for i := range msgs {
		s, _ := BaseSubject(msgs[i].Subject)
		topics[CollationKey(strings.TrimSuffix(s, " été"))] = true
	}
	// Encoded subjects end in " été", a different base subject from the
	// plain ones of their topic, so a topic may give up to two threads.
	if len(threads) < len(topics) || len(threads) > 2*len(topics) {
		t.Errorf("%d threads for %d topics", len(threads), len(topics))
	}
}

// BenchmarkThreadReferencesAdversarial: 90,001 messages hanging 30,000
// subtrees under the bottom of a 10,000-deep chain of missing messages.
func BenchmarkThreadReferencesAdversarial(b *testing.B) {
	msgs := adversarial(10000, 30000)
	for b.Loop() {
		References(msgs)
	}
}
