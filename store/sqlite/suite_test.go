package sqlite

import (
	"errors"
	"testing"

	"github.com/mattn/go-sqlite3"

	"pillarbox/store"
	"pillarbox/store/storesuite"
)

// The tests every store must pass (store/storesuite) run here, each on
// a store of openSuite's.

// openSuite opens an empty store, closed when the test ends.
func openSuite(t *testing.T) store.Store { return openTest(t, Options{}) }

func TestSuite(t *testing.T) {
	t.Parallel()
	storesuite.Run(t, openSuite, storesuite.Refusals{
		Check:      constraint(sqlite3.ErrConstraintCheck),
		ForeignKey: constraint(sqlite3.ErrConstraintForeignKey),
	})
}

// constraint reports whether an error is SQLite's refusal by a
// constraint of the given kind.
func constraint(kind sqlite3.ErrNoExtended) func(error) bool {
	return func(err error) bool {
		var se sqlite3.Error
		return errors.As(err, &se) && se.ExtendedCode == kind
	}
}
