package mailbox

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// tenKBMessage is a 10 KB plain-text message like the load command sends.
func tenKBMessage(i int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: bench@example.net\r\nTo: alice@example.org\r\nSubject: message %d\r\nMessage-ID: <%d@bench.example.net>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", i, i)
	for b.Len() < 10240 {
		b.WriteString("The quick brown fox jumps over the lazy dog while the mail server fsyncs.\r\n")
	}
	return []byte(b.String())
}

// BenchmarkDeliver measures durable delivery of 10 KB messages to one
// mailbox from many goroutines, so group commit is exercised.
func BenchmarkDeliver(b *testing.B) {
	s, db := newTestService(&testing.T{})
	_ = db
	ctx := context.Background()
	if err := s.AddUser(ctx, "alice@example.org", "pw"); err != nil {
		b.Fatal(err)
	}
	a, _ := ParseAddress("alice@example.org")
	r, err := s.Resolve(ctx, a)
	if err != nil {
		b.Fatal(err)
	}
	msg := tenKBMessage(1)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.SetParallelism(10)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Deliver(ctx, &Delivery{Recipients: []Recipient{r}, Data: msg}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	st := db.Stats()
	b.ReportMetric(float64(st.Requests)/float64(st.Commits), "req/commit")
	if p, ok := db.(interface{ Path() string }); ok {
		if fi, err := os.Stat(p.Path() + "-wal"); err == nil {
			b.ReportMetric(float64(fi.Size())/(1<<20), "WAL-MiB")
		}
	}
}
