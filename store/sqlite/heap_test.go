package sqlite

import (
	"bytes"
	"context"
	"pillarbox/store"
	"syscall"
	"testing"
)

// BenchmarkBlobRangeLarge reads a 1 MB stored message over and over, and
// reports the page faults each read costs: SQLite copies the message into
// C memory, and if the allocator maps and unmaps that copy each time (a
// trim threshold set with mallopt stops glibc adapting), every read
// faults its pages in again (about 520 a read and 9 ms then; about 27
// and 1.6 ms now, on a 2-core machine).
func BenchmarkBlobRangeLarge(b *testing.B) {
	db := openTest(b, Options{})
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef\r\n"), (1<<20)/18)
	var id int64
	if err := db.write(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.InsertBlob(&store.Blob{Data: data, Envelope: []byte("{}"), Structure: []byte("{}")})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	for range 20 { // the connections' first reads
		if _, err := db.BlobRange(ctx, id, 0, int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	for b.Loop() {
		got, err := db.BlobRange(ctx, id, 0, int64(len(data)))
		if err != nil || len(got) != len(data) {
			b.Fatalf("%d octets, %v", len(got), err)
		}
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	b.ReportMetric(float64(after.Minflt-before.Minflt)/float64(b.N), "faults/op")
}
