package sqlite

import (
	"context"
	"errors"
	"fmt"
	"pillarbox/store"
	"pillarbox/store/storesuite"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// bigTextDB stores n messages whose bodies are about size bytes of words,
// message i (UID i+1) ending with "needle<i>".
func bigTextDB(t *testing.T, n, size int) (*DB, int64) {
	t.Helper()
	headers, bodies := make([]string, n), make([]string, n)
	line := "the quick brown fox jumps over the lazy dog\n"
	for i := range n {
		headers[i] = fmt.Sprintf("Subject: message %d\n", i)
		bodies[i] = strings.Repeat(line, size/len(line)) + fmt.Sprintf("needle%d\n", i)
	}
	return searchDB(t, headers, bodies)
}

// orTexts ORs TEXT keys for the needles: len(needles) text keys, nested
// len(needles)-1 deep.
func orTexts(needles ...string) store.SearchCriteria {
	c := store.SearchCriteria{Text: []string{needles[len(needles)-1]}}
	for i := len(needles) - 2; i >= 0; i-- {
		c = store.SearchCriteria{Or: [][2]store.SearchCriteria{{{Text: []string{needles[i]}}, c}}}
	}
	return c
}

// TestSearchReadsEachTextOnce: a search with many text keys reads each
// candidate message's text once, not once per key, and gets the same
// answer as one key at a time.
func TestSearchReadsEachTextOnce(t *testing.T) {
	t.Parallel()
	db, mb := bigTextDB(t, 10, 64<<10)
	var rows atomic.Int64
	db.searchRowHook = func() { rows.Add(1) }
	var needles []string
	for k := range store.MaxSearchTextKeys {
		needles = append(needles, fmt.Sprintf("q%d", k))
	}
	needles[5], needles[40] = "NEEDLE3", "needle7"
	c := orTexts(needles...)
	if got := storesuite.SearchUIDs(t, db, mb, &c, true); !slices.Equal(got, []uint32{4, 8}) {
		t.Errorf("got %v, want [4 8]", got)
	}
	// The indexed pieces leave out messages without any of the strings:
	// at most the 10 messages are read, and the two that match.
	if n := rows.Load(); n > 10 || n < 2 {
		t.Errorf("read %d texts for 10 messages and %d keys", n, store.MaxSearchTextKeys)
	}
	// Text keys under NOT, and mixed with other keys: only the messages
	// that the other keys leave (UID 1:4) are read; single words without a
	// separator before them cannot narrow them by the full-text index.
	rows.Store(0)
	c = store.SearchCriteria{Not: []store.SearchCriteria{orTexts("needle1", "needle2", "needle8")}, UIDs: [][]store.UIDRange{{{Start: 1, Stop: 4}}}}
	if got := storesuite.SearchUIDs(t, db, mb, &c, false); !slices.Equal(got, []uint32{1, 4}) {
		t.Errorf("NOT: got %v, want [1 4]", got)
	}
	if n := rows.Load(); n != 4 {
		t.Errorf("NOT with UID 1:4: read %d texts, want 4", n)
	}
}

// TestSearchStopsWhenContextEnds: cancelling the context stops the first
// pass at the next message, and the error says why.
func TestSearchStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	db, mb := bigTextDB(t, 50, 1<<10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rows atomic.Int64
	db.searchRowHook = func() {
		rows.Add(1)
		cancel()
	}
	snap, err := db.snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	c := orTexts("needle1", "needle2")
	err = snap.Search(ctx, mb, &c, false, func(uint32, uint32) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("search: %v, want context.Canceled", err)
	}
	if n := rows.Load(); n != 1 {
		t.Errorf("read %d texts after the cancellation, want 1", n)
	}
}

// TestSearchLimits: past a limit, Search answers ErrSearchLimit before
// anything else (even a context that has ended); at the limits, the SQL
// stays within SQLite's own limits.
func TestSearchLimits(t *testing.T) {
	t.Parallel()
	db, mb := searchDB(t, []string{"Subject: a\n", "Subject: b\n"}, []string{"one", "two"})
	snap, err := db.snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	not := store.SearchCriteria{Smaller: 100}
	for range store.MaxSearchDepth + 1 {
		not = store.SearchCriteria{Not: []store.SearchCriteria{not}}
	}
	var texts []string
	for k := range store.MaxSearchTextKeys + 1 {
		texts = append(texts, fmt.Sprint(k))
	}
	for _, c := range []store.SearchCriteria{not, {Body: texts}, {Keywords: make([]string, store.MaxSearchKeys+1)}} {
		err := snap.Search(ended, mb, &c, false, func(uint32, uint32) error { return nil })
		if !errors.Is(err, store.ErrSearchLimit) {
			t.Errorf("%v: %v, want ErrSearchLimit", c.Size(), err)
		}
	}

	// The most nested and largest criteria allowed: an OR chain as deep
	// as allowed, each level with a UID set as large as is written into
	// the SQL, every text key, and the remaining keys at the top.
	var ranges []store.UIDRange
	for u := range uint32(maxInlineRanges) {
		ranges = append(ranges, store.UIDRange{Start: 2*u + 1, Stop: 2*u + 1})
	}
	deep := store.SearchCriteria{Body: []string{"two"}}
	for level := range store.MaxSearchDepth {
		other := store.SearchCriteria{UIDs: [][]store.UIDRange{ranges}}
		if level > 0 {
			other.Text = []string{"x y z"}
		}
		deep = store.SearchCriteria{Or: [][2]store.SearchCriteria{{deep, other}}}
	}
	for deep.Size().Keys < store.MaxSearchKeys {
		deep.NotKeywords = append(deep.NotKeywords, "k")
	}
	z := deep.Size()
	if err := z.Check(); err != nil || z.TextKeys != store.MaxSearchTextKeys || z.Depth != store.MaxSearchDepth {
		t.Fatalf("criteria at the limits: %+v, %v", z, err)
	}
	// UID 1 is in the set beside the innermost BODY key, which UID 2 matches.
	if got := storesuite.SearchUIDs(t, db, mb, &deep, true); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("criteria at the limits: got %v, want [1 2]", got)
	}
}
