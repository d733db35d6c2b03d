package imap

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostileKeys is the number of TEXT keys in BenchmarkHostileSearch's
// search. Past the server's limit the search is refused at once.
var hostileKeys = flag.Int("imap.hostile.keys", 64, "TEXT keys in BenchmarkHostileSearch's search")

// BenchmarkHostileSearch measures the memory that searches with many
// text keys take: INBOX holds 10 messages of 1 MiB of text that contains
// none of the keys, and each of 1 or 8 connections at once sends
//
//	SEARCH OR OR … TEXT q0 TEXT q1 … TEXT q<n-1>
//
// It reports the process's peak RSS while the searches ran (VmHWM, reset
// first), its RSS before and after, the peak of the Go heap (sampled) and
// the time per round. Run each case in a process of its own, so that one
// does not inherit the other's memory:
//
//	go test ./imap -run '^$' -bench 'HostileSearch/conns=1$' -benchtime 1x -imap.hostile.keys 64
//	go test ./imap -run '^$' -bench 'HostileSearch/conns=8$' -benchtime 1x -imap.hostile.keys 64
func BenchmarkHostileSearch(b *testing.B) {
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) { hostileSearch(b, conns) })
	}
}

func hostileSearch(b *testing.B, conns int) {
	e := newEnv(b)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 10 {
		var body strings.Builder
		for body.Len() < 1<<20 {
			for w := 0; w < 12; w++ {
				body.WriteString(benchWords[r.IntN(len(benchWords))])
				body.WriteByte(' ')
			}
			body.WriteString("\n")
		}
		e.deliver("alice", fmt.Sprintf("From: bob@example.org\nTo: alice@example.org\nSubject: big %d\n\n%s", i, body.String()))
	}
	if err := e.db.FlushIndex(context.Background()); err != nil {
		b.Fatal(err)
	}
	var cmd strings.Builder
	cmd.WriteString("SEARCH ")
	for range *hostileKeys - 1 {
		cmd.WriteString("OR ")
	}
	for k := range *hostileKeys {
		fmt.Fprintf(&cmd, "TEXT q%d ", k)
	}
	line := strings.TrimSpace(cmd.String())
	clients := make([]*rawConn, conns)
	for i := range clients {
		clients[i] = e.raw("alice")
		clients[i].wait = 10 * time.Minute
		clients[i].ok("SELECT INBOX")
	}

	runtime.GC()
	debug.FreeOSMemory()
	before := procStatusKB(b, "VmRSS")
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset VmHWM: %v", err)
	}
	stop := make(chan struct{})
	peakHeap := make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				peakHeap <- peak
				return
			case <-tick.C:
			}
		}
	}()
	b.ReportAllocs()
	start := time.Now()
	statuses := make([]string, conns)
	for b.Loop() {
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Go(func() { _, statuses[i] = c.cmd(line) })
		}
		wg.Wait()
	}
	elapsed := time.Since(start)
	close(stop)
	heap := <-peakHeap
	peak := procStatusKB(b, "VmHWM")
	after := procStatusKB(b, "VmRSS")
	b.Logf("%d keys, %d connections: %q", *hostileKeys, conns, statuses[0])
	b.ReportMetric(float64(before)/1024, "MB-RSS-before")
	b.ReportMetric(float64(peak)/1024, "MB-RSS-peak")
	b.ReportMetric(float64(after)/1024, "MB-RSS-after")
	b.ReportMetric(float64(heap)/(1<<20), "MB-heap-peak")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/round")
}

// procStatusKB reads a field of /proc/self/status, in KiB.
func procStatusKB(b *testing.B, field string) int64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for l := range strings.SplitSeq(string(s), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("%s: %v", field, err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
