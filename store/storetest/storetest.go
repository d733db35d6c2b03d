// Package storetest gives tests of the packages above the store a fresh
// store of the driver under test: SQLite by default, PostgreSQL when
// $PILLARBOX_TEST_STORE is "postgres", so that one suite runs on both
// (.ci/run runs it once for each).
package storetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"pillarbox/store"
	"pillarbox/store/pgtest"
	"pillarbox/store/postgres"
	"pillarbox/store/sqlite"
)

// Env is the variable that chooses the driver.
const Env = "PILLARBOX_TEST_STORE"

// Driver returns the driver the tests run on: "sqlite" or "postgres".
func Driver() string {
	if os.Getenv(Env) == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// Open returns a new, empty store, closed when tb ends: an SQLite file in
// tb.TempDir(), or a database of its own on srv's PostgreSQL server
// (tb skips when that server cannot run here; see pgtest).
func Open(tb testing.TB, srv *pgtest.Server) store.Store {
	tb.Helper()
	return New(tb, srv).Open(tb)
}

// Location is where one test's store lives, so that the test can open
// it again, as a restarted server does.
type Location struct {
	path string // the SQLite file, or
	dsn  string // the PostgreSQL database
}

// New makes a new, empty location of the driver under test.
func New(tb testing.TB, srv *pgtest.Server) Location {
	tb.Helper()
	if Driver() == "postgres" {
		return Location{dsn: srv.DB(tb)}
	}
	return Location{path: filepath.Join(tb.TempDir(), "pillarbox.db")}
}

// At is the location of an SQLite file that exists, such as a database
// prepared for a benchmark.
func At(path string) Location { return Location{path: path} }

// AtDSN is the location of a PostgreSQL database that exists.
func AtDSN(dsn string) Location { return Location{dsn: dsn} }

// Open opens the store at l, closed when tb ends.
func (l Location) Open(tb testing.TB) store.Store {
	tb.Helper()
	var db store.Store
	if l.dsn != "" {
		pdb, err := postgres.Open(context.Background(), l.dsn)
		if err != nil {
			tb.Fatal(err)
		}
		db = pdb
	} else {
		sdb, err := sqlite.Open(l.path, sqlite.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		db = sdb
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
