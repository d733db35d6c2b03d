package storesuite

import "testing"

// Run runs every suite on stores of open: a driver's tests call it once
// (go test -run 'TestSuite/History' picks one).
func Run(t *testing.T, open Opener, refused Refusals) {
	for name, suite := range map[string]func(*testing.T){
		"Search":     func(t *testing.T) { Search(t, open) },
		"MTASTS":     func(t *testing.T) { MTASTS(t, open) },
		"History":    func(t *testing.T) { History(t, open) },
		"Quota":      func(t *testing.T) { Quota(t, open) },
		"Recent":     func(t *testing.T) { Recent(t, open) },
		"Messages":   func(t *testing.T) { Messages(t, open) },
		"Queue":      func(t *testing.T) { Queue(t, open) },
		"SentCopies": func(t *testing.T) { SentCopies(t, open, refused) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			suite(t)
		})
	}
}
