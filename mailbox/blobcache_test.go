package mailbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// The cache holds at most its budget of stored envelope and structure,
// an entry looked up in the older generation survives the next
// turnover, and an entry heavier than metaCacheMaxEntry is not kept.
func TestMetaCacheBounded(t *testing.T) {
	const budget = 8 * (100 + entryCost) // four entries a generation
	c := newBlobCache[meta](budget, metaCacheMaxEntry)
	for id := range int64(20) {
		c.put(id, meta{env: &Envelope{Subject: fmt.Sprint(id)}}, 100)
		w := c.weight
		for _, e := range c.old {
			w += e.weight
		}
		if w > budget {
			t.Fatalf("after %d puts the cache holds %d of %d", id+1, w, budget)
		}
	}
	// 16..19 are in the newer generation, 12..15 in the older.
	if _, ok := c.get(3); ok {
		t.Fatal("entry 3 survived five turnovers")
	}
	m, ok := c.get(13)
	if !ok || m.env.Subject != "13" {
		t.Fatalf("entry 13: %v %v", m.env, ok)
	}
	for id := int64(20); id < 24; id++ {
		c.put(id, meta{env: &Envelope{}}, 100)
	}
	if _, ok := c.get(13); !ok {
		t.Fatal("entry 13, looked up, was dropped at the next turnover")
	}
	c.put(99, meta{env: &Envelope{}}, metaCacheMaxEntry+1)
	if _, ok := c.get(99); ok {
		t.Fatal("an entry over metaCacheMaxEntry was kept")
	}
}

// A small message with hundreds of empty parts decodes to a large
// structure, some six times its stored size: a cache full of them must
// stay within a few times its budget (it was bounded by its number of
// entries, and 8,192 of these were 5 GB).
func TestMetaCacheHeapBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range 500 {
		b.WriteString("--b\r\n\r\nx\r\n")
	}
	b.WriteString("--b--\r\n")
	m := Analyze([]byte(b.String()), Limits{})
	st, _ := json.Marshal(m.Structure)
	env, _ := json.Marshal(&m.Envelope)
	if len(st)+len(env) > metaCacheMaxEntry {
		t.Fatalf("the test message weighs %d, over the largest entry kept", len(st)+len(env))
	}
	c := newMetaCache()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for id := range int64(200) {
		e, p, err := decodeMeta(env, st)
		if err != nil {
			t.Fatal(err)
		}
		c.put(id, meta{env: e, st: p}, len(env)+len(st))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(c)
	if held > 8*metaCacheBudget {
		t.Fatalf("200 entries of %d stored octets each: the cache holds %d MB", len(st)+len(env), held>>20)
	}
}

// Messages read with their envelope and structure give the same values
// from the store (a miss) and from the cache (a hit).
func TestMessagesMetaFromCache(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	var raws []string
	for i := range 3 {
		raws = append(raws, fmt.Sprintf("From: Sender %d <s%d@example.net>\r\nTo: alice@example.org\r\nSubject: number %d\r\n"+
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello %d\r\n--b--\r\n", i, i, i, i))
	}
	inbox := aliceInbox(t, s, raws...)
	read := func() []Message {
		var msgs []Message
		err := s.ReadMailbox(ctx, inbox.ID, nil, func(r *Reader) error {
			var err error
			msgs, err = r.Messages(1, ^uint32(0), 10, 1, WantStructure)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 3 {
			t.Fatalf("%d messages, want 3", len(msgs))
		}
		return msgs
	}
	cold := read()
	for i, m := range cold {
		if m.Envelope == nil || m.Envelope.Subject != fmt.Sprintf("number %d", i) || m.Structure == nil || len(m.Structure.Children) != 1 {
			t.Fatalf("message %d: envelope %+v structure %+v", i, m.Envelope, m.Structure)
		}
		if _, ok := s.meta.get(m.BlobID); !ok {
			t.Fatalf("message %d: not cached after its first read", i)
		}
	}
	warm := read()
	for i := range warm {
		if warm[i].Envelope != cold[i].Envelope || !reflect.DeepEqual(warm[i], cold[i]) {
			t.Fatalf("message %d: from the cache %+v, first read %+v", i, warm[i], cold[i])
		}
	}
}

// A message delivered, or read whole, is kept; the next reads of it,
// whole or in part, give the stored octets from the cache; a message over
// the largest entry is read from the store each time.
func TestBodiesFromCache(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	small := "From: a@example.net\r\nTo: alice@example.org\r\nSubject: small\r\n\r\nhello\r\n"
	large := "From: a@example.net\r\nTo: alice@example.org\r\nSubject: large\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", bodyCacheMaxEntry/18+1)
	inbox := aliceInbox(t, s, small, large)
	read := func(bodies bool) []Message {
		t.Helper()
		var msgs []Message
		err := s.ReadMailbox(ctx, inbox.ID, nil, func(r *Reader) error {
			var err error
			if msgs, err = r.Messages(1, ^uint32(0), 10, 1, WantRow); err != nil || !bodies {
				return err
			}
			return r.ReadBodies(msgs, 1<<30, 1<<30)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 {
			t.Fatalf("read %d messages, not the two stored", len(msgs))
		}
		return msgs
	}
	msgs := read(false)
	stored, err := s.db.BlobRange(ctx, msgs[0].BlobID, 0, msgs[0].Size)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := s.bodies.get(msgs[0].BlobID); !ok || string(b) != string(stored) {
		t.Fatalf("the small message is not kept as stored after its delivery (%v)", ok)
	}
	s.bodies = newBodyCache()
	msgs = read(true)
	if string(msgs[0].Body) != small || string(msgs[1].Body) != large {
		t.Fatal("the bodies read differ from those delivered")
	}
	if b, ok := s.bodies.get(msgs[0].BlobID); !ok || string(b) != small {
		t.Fatalf("the small message is not kept after its read (%v)", ok)
	}
	if _, ok := s.bodies.get(msgs[1].BlobID); ok {
		t.Fatalf("a message of %d octets is kept, over the largest entry of %d", len(large), bodyCacheMaxEntry)
	}
	part, err := s.MessageBytes(ctx, msgs[0].BlobID, 6, 40)
	if err != nil || string(part) != small[6:40] {
		t.Fatalf("a range from the cache: %q, %v; want %q", part, err, small[6:40])
	}
	whole, err := s.Message(ctx, msgs[1].BlobID, msgs[1].Size)
	if err != nil || string(whole) != large {
		t.Fatalf("the large message read again: %d octets, %v", len(whole), err)
	}
}

// rows reads the rows of a folder's messages, without their octets.
func rows(t *testing.T, s *Service, folder int64) []Message {
	t.Helper()
	var msgs []Message
	if err := s.ReadMailbox(context.Background(), folder, nil, func(r *Reader) error {
		var err error
		msgs, err = r.Messages(1, ^uint32(0), 10, 1, WantRow)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// An entry kept again is counted once: reading one message over and over
// must not push every other out of the cache.
func TestBlobCacheKeptAgainCountedOnce(t *testing.T) {
	c := newBlobCache[[]byte](8*(100+entryCost), bodyCacheMaxEntry)
	c.put(2, []byte("other"), 100)
	for range 10 {
		c.put(1, []byte("hot"), 100)
	}
	if c.weight != 2*(100+entryCost) {
		t.Fatalf("two entries weigh %d, want %d", c.weight, 2*(100+entryCost))
	}
	if _, ok := c.get(2); !ok {
		t.Fatal("one entry kept again pushed the other out")
	}

	s, _ := newTestService(t)
	ctx := context.Background()
	big := "From: a@example.net\r\nSubject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 200<<10/18)
	inbox := aliceInbox(t, s, big, "From: a@example.net\r\nSubject: small\r\n\r\nhello\r\n")
	msgs := rows(t, s, inbox.ID)
	for range 90 {
		if _, err := s.Message(ctx, msgs[0].BlobID, msgs[0].Size); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.bodies.get(msgs[1].BlobID); !ok {
		t.Fatal("90 reads of one message pushed the other out of the cache")
	}
}

// What delivery keeps is a copy of the message: the caller's buffer may
// be far larger than the message (SMTP's DATA buffer), and may change.
func TestBodyCacheKeepsCopies(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	inbox := aliceInbox(t, s)
	var buf bytes.Buffer
	buf.Grow(16 << 10)
	buf.WriteString("From: x@example.net\r\nTo: alice@example.org\r\nSubject: kept\r\n\r\nhi\r\n")
	want := buf.String()
	if _, err := s.Deliver(ctx, &Delivery{From: "x@example.net", Recipients: resolveAll(t, s, "alice@example.org"), Data: buf.Bytes()}); err != nil {
		t.Fatal(err)
	}
	copy(buf.Bytes(), "XXXX") // the caller reuses its buffer
	msgs := rows(t, s, inbox.ID)
	b, ok := s.bodies.get(msgs[0].BlobID)
	if !ok || string(b) != want {
		t.Fatalf("kept %q (%v), want the delivered %q", b, ok, want)
	}
}
