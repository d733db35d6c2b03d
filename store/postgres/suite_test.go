package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"pillarbox/store"
	"pillarbox/store/storesuite"
)

// The tests every store must pass (store/storesuite) run here, each on
// a store of openSuite's.

// openSuite opens an empty store, closed when the test ends.
func openSuite(t *testing.T) store.Store { return openTest(t) }

func TestSuite(t *testing.T) {
	t.Parallel()
	storesuite.Run(t, openSuite, storesuite.Refusals{
		Check:      sqlState("23514"), // check_violation
		ForeignKey: sqlState("23503"), // foreign_key_violation
	})
}

// sqlState reports whether an error is PostgreSQL's of the given
// SQLSTATE.
func sqlState(code string) func(error) bool {
	return func(err error) bool {
		pe := (*pgconn.PgError)(nil)
		return errors.As(err, &pe) && pe.Code == code
	}
}
