package mailbox

import (
	"context"
	"fmt"
	"pillarbox/store/storetest"
	"testing"
)

// BenchmarkSubmitSentCopy measures durable submission of 10 KB messages
// to one remote recipient from many goroutines, with and without the
// Sent copy, which adds a message row, a record and a prune per message.
func BenchmarkSubmitSentCopy(b *testing.B) {
	for _, noSent := range []bool{false, true} {
		b.Run(fmt.Sprintf("NoSentCopy=%v", noSent), func(b *testing.B) {
			db := storetest.Open(b, pg)
			s, err := New(db, Options{Domains: []string{"example.org"}, BcryptCost: 4, NoSentCopy: noSent})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := s.AddUser(ctx, "alice@example.org", "pw"); err != nil {
				b.Fatal(err)
			}
			acct, err := s.Authenticate(ctx, "alice@example.org", "pw")
			if err != nil {
				b.Fatal(err)
			}
			from, _ := ParseAddress("alice@example.org")
			to, _ := ParseAddress("x@remote.test")
			msg := tenKBMessage(1)
			b.SetBytes(int64(len(msg)))
			b.SetParallelism(10)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Submit(ctx, &Submission{Account: acct, From: from, Remote: []Address{to}, Data: msg}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
