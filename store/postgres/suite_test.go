package postgres

import (
	"testing"

	"pillarbox/store"
	"pillarbox/store/storesuite"
)

// The tests every store must pass (store/storesuite), each on empty
// stores of this package.

func openSuite(t *testing.T) store.Store { return openTest(t) }

func TestSuiteSearch(t *testing.T) {
	t.Parallel()
	storesuite.Search(t, openSuite)
}

func TestSuiteMTASTS(t *testing.T) {
	t.Parallel()
	storesuite.MTASTS(t, openSuite)
}

func TestSuiteHistory(t *testing.T) {
	t.Parallel()
	storesuite.History(t, openSuite)
}
