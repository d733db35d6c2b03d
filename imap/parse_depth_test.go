//go:build !race

// The race detector allocates shadow memory of its own, which TotalAlloc
// counts; the bound is checked without it.

package imap

import (
	"bufio"
	"runtime"
	"strings"
	"testing"

	"pillarbox/imap/wire"
)

// TestSearchNestingMemory: the session let the parser nest 32,768 deep,
// so that one SEARCH of OR TEXT {1+} keys, half a megabyte, made its
// connection allocate some 30 MiB and grow a 64 MiB stack before the
// search refused it (NO [LIMIT] past 64 levels). The parser now stops at
// 2,048 levels with the same NO [LIMIT], and what one command costs stays
// of the order of the command size bound.
func TestSearchNestingMemory(t *testing.T) {
	in := "a SEARCH " + strings.Repeat("OR TEXT {1+}\r\nx ", 30000) + "ALL\r\n"
	r := wire.NewReader(bufio.NewReader(strings.NewReader(in)), func() error { return nil }, readerOptions(0))
	r.SetAuthenticated(true)
	var before, after runtime.MemStats
	var err error
	runtime.GC()
	runtime.ReadMemStats(&before)
	done := make(chan struct{})
	go func() { // a fresh stack, as a connection's
		defer close(done)
		_, err = r.ReadCommand()
	}()
	<-done
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("one SEARCH nested 30,000 deep allocated %d MiB", got>>20)
	}
	var we *wire.Error
	if e, ok := err.(*wire.Error); ok {
		we = e
	}
	if we == nil || !we.NO || we.Code != "LIMIT" || we.Fatal {
		t.Errorf("got %v, want NO [LIMIT]", err)
	}
}
