//go:build !race

// The race detector allocates shadow memory of its own, which TotalAlloc
// counts; the bound is checked without it.

package wire

import (
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestAllocationBounded sends commands that announce far more than the
// limits allow and checks that the Reader's allocations stay near the
// bounds (a few times the line length), not near what was announced.
func TestAllocationBounded(t *testing.T) {
	opts := Options{MaxLineLength: 4096, MaxLiteralPreAuth: 1024, MaxLiteral: 8192, MaxCommandSize: 16384, MaxItems: 100, MaxDepth: 8}
	const bound = 256 << 10
	inputs := map[string]string{
		"huge literal pre-auth": "a LOGIN {999999999}\r\n",
		"huge literal":          "a SEARCH TEXT {999999999}\r\n",
		"huge non-sync literal": "a SEARCH TEXT {999999999+}\r\n" + strings.Repeat("x", 100),
		"huge append":           "a APPEND INBOX {999999999999}\r\n",
		"long sequence set":     "a FETCH " + strings.Repeat("1,", 2000) + "1 FLAGS\r\n",
		"deep search":           "a SEARCH " + strings.Repeat("(", 2000) + "\r\n",
		"many search keys":      "a SEARCH " + strings.Repeat("SEEN ", 800) + "\r\n",
		"long line":             "a LOGIN " + strings.Repeat("x", 1<<20) + "\r\n",
		"many literals":         "a SEARCH" + strings.Repeat(" TEXT {8000}\r\n"+strings.Repeat("y", 8000), 10) + "\r\n",
		"many flags":            "a STORE 1 FLAGS (" + strings.Repeat("\\Seen ", 700) + ")\r\n",
		"many append messages":  "a APPEND INBOX" + strings.Repeat(" {1+}\r\nx", 200) + "\r\n",
	}
	for name, in := range inputs {
		got := allocated(func() {
			tr := newTestReader(in, opts)
			tr.SetAuthenticated(name != "huge literal pre-auth")
			for i := 0; i < 5; i++ {
				c, err := tr.ReadCommand()
				if _, ok := c.(*Append); ok {
					for {
						m, err := tr.NextAppendMessage()
						if m == nil || err != nil {
							break
						}
					}
				}
				if e, ok := err.(*Error); err != nil && (!ok || e.Fatal) {
					break
				}
			}
		})
		t.Logf("%s: %d bytes", name, got)
		if got > bound {
			t.Errorf("%s: allocated %d bytes, want at most %d", name, got, bound)
		}
	}
}

func TestKeywordsDoNotAllocate(t *testing.T) {
	for _, w := range []string{"fetch", "Uid", "BODY.PEEK", "flags", "CHANGEDSINCE"} {
		b := []byte(w)
		var got string
		if n := testing.AllocsPerRun(100, func() { got = upperKeyword(b) }); n != 0 {
			t.Errorf("upperKeyword(%q): %v allocations", w, n)
		}
		if got != strings.ToUpper(w) {
			t.Errorf("upperKeyword(%q) = %q", w, got)
		}
	}
	if got := upperKeyword([]byte("x-Unknown")); got != "X-UNKNOWN" {
		t.Errorf("unknown word: %q", got)
	}
	long := strings.Repeat("a", 40)
	if got := upperKeyword([]byte(long)); got != strings.ToUpper(long) {
		t.Errorf("long word: %q", got)
	}
}
