package mailbox

import (
	"context"
	"fmt"
	"reflect"
	"testing"
)

// The cache holds at most max entries, and an entry looked up in the
// older generation survives the next turnover.
func TestMetaCacheBounded(t *testing.T) {
	c := newMetaCache(8)
	for id := range int64(20) {
		c.put(id, meta{env: &Envelope{Subject: fmt.Sprint(id)}})
		if n := len(c.cur) + len(c.old); n > 8 {
			t.Fatalf("after %d puts the cache holds %d entries", id+1, n)
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
		c.put(id, meta{env: &Envelope{}})
	}
	if _, ok := c.get(13); !ok {
		t.Fatal("entry 13, looked up, was dropped at the next turnover")
	}
}

// Messages read with their envelope and structure give the same values
// from the store (a miss) and from the cache (a hit).
func TestMessagesMetaFromCache(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	for i := range 3 {
		raw := fmt.Sprintf("From: Sender %d <s%d@example.net>\r\nTo: alice@example.org\r\nSubject: number %d\r\n"+
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello %d\r\n--b--\r\n", i, i, i, i)
		if _, err := s.Deliver(ctx, &Delivery{From: "bob@example.net", Recipients: resolveAll(t, s, "alice@example.org"),
			Data: []byte(raw)}); err != nil {
			t.Fatal(err)
		}
	}
	acct, err := s.Authenticate(ctx, "alice@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := s.Folder(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	read := func() []Message {
		var msgs []Message
		err := s.ReadMailbox(ctx, inbox.ID, nil, func(r *Reader) error {
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
