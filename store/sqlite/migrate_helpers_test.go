package sqlite

import (
	"database/sql"
	"fmt"
	"io/fs"
	"pillarbox/store"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// rawAtVersion makes a database at path with the migrations up to and
// including version applied and user_version set to it, and returns it
// open without the store, for a test to put rows in before Open applies
// the later migrations. The caller closes it.
func rawAtVersion(t *testing.T, path string, version int) *sql.DB {
	t.Helper()
	// The functions the store registers, which migrations from 0016 call,
	// with the text of messages as stored (no decoder).
	raw := sql.OpenDB(connector{dsn: "file:" + path + "?_foreign_keys=on", drv: &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error { return registerTextFunctions(c, store.RawSearchText, nil) }}})
	raw.SetMaxOpenConns(1)
	for v := 1; v <= version; v++ {
		names, _ := fs.Glob(migrations, fmt.Sprintf("migrations/%04d_*.sql", v))
		if len(names) != 1 {
			t.Fatalf("migration %d: %v", v, names)
		}
		body, err := migrations.ReadFile(names[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", names[0], err)
		}
	}
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		t.Fatal(err)
	}
	return raw
}

// migrationNumber returns the number of the migration whose file name
// ends in suffix.
func migrationNumber(t *testing.T, suffix string) int {
	t.Helper()
	names, _ := fs.Glob(migrations, "migrations/*"+suffix)
	if len(names) != 1 {
		t.Fatalf("migrations ending %q: %v", suffix, names)
	}
	var n int
	if _, err := fmt.Sscanf(names[0], "migrations/%04d_", &n); err != nil {
		t.Fatal(err)
	}
	return n
}
