package sqlite

import (
	"testing"

	"pillarbox/store"
	"pillarbox/store/storesuite"
)

// The tests every store must pass (store/storesuite).
func TestSuiteSearch(t *testing.T) {
	t.Parallel()
	storesuite.Search(t, func(t *testing.T) store.Store { return openTest(t, Options{}) })
}
