package store

import (
	"fmt"
	"slices"
	"testing"
)

// GroupCommit takes what is waiting, up to max a batch, with what the
// last batch put off first, and returns once quit is closed and nothing
// is queued.
func TestGroupCommit(t *testing.T) {
	reqs := make(chan int, 10)
	quit := make(chan struct{})
	for i := 1; i <= 5; i++ {
		reqs <- i
	}
	var batches []string
	GroupCommit(reqs, quit, 3, func(batch []int) (carry []int) {
		batches = append(batches, fmt.Sprint(batch))
		if len(batches) == 1 {
			carry = []int{2}
		}
		if slices.Contains(batch, 5) {
			close(quit)
		}
		return carry
	})
	if want := []string{"[1 2 3]", "[2 4 5]"}; !slices.Equal(batches, want) {
		t.Errorf("batches %v, want %v", batches, want)
	}
}

// What is queued when quit is closed is committed all the same, a
// request put off again until it is done.
func TestGroupCommitDrains(t *testing.T) {
	reqs := make(chan int, 10)
	quit := make(chan struct{})
	reqs <- 1
	reqs <- 2
	close(quit)
	var seen []int
	putOff := true
	GroupCommit(reqs, quit, 3, func(batch []int) (carry []int) {
		seen = append(seen, batch...)
		if slices.Contains(batch, 2) && putOff {
			putOff = false
			carry = []int{2}
		}
		return carry
	})
	slices.Sort(seen)
	if !slices.Equal(seen, []int{1, 2, 2}) {
		t.Errorf("committed %v, want 1 once and 2 twice (put off once)", seen)
	}
}
