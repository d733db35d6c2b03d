package imap

import (
	"bufio"
	"io"
	"testing"
)

// TestContWatchCountsOnlyContinuationRequests: a "+" counts only at the
// start of a response line, however the writes are cut, and never inside
// a literal of a FETCH response. Counting the first byte of every write
// miscounted when a long literal was passed on in chunks.
func TestContWatchCountsOnlyContinuationRequests(t *testing.T) {
	t.Parallel()
	stream := "* 1 FETCH (UID 1 BODY[] {16}\r\n+ not a request\r\n)\r\n" +
		"+ Ready for literal data\r\n" +
		"* 2 FETCH (BINARY[] ~{3}\r\n+\r\n BODY[1] {0}\r\n)\r\n" +
		"a1 OK done\r\n" +
		"+ idling\r\n"
	const want = 2
	for cut := 1; cut <= len(stream); cut++ {
		g := &nulGuard{}
		w := &contWatch{dst: bufio.NewWriter(io.Discard), g: g}
		for s := stream; len(s) > 0; {
			n := min(cut, len(s))
			if _, err := w.Write([]byte(s[:n])); err != nil {
				t.Fatal(err)
			}
			s = s[n:]
		}
		if got := g.conts.Load(); got != want {
			t.Fatalf("writes of %d bytes: counted %d continuation requests, want %d", cut, got, want)
		}
	}
}
