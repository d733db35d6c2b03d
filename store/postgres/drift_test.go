package postgres

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestSchemaMatchesSQLite: the tables and columns of the newest
// PostgreSQL schema are the SQLite store's, by name, so that a migration
// added to one driver and not the other is caught. Left out: SQLite's
// FTS4 plumbing (and what FTS4 makes), whose PostgreSQL rendering is
// blob_text(blob_id, terms), with blobs_released, which defers removing a
// blob for FTS4's sake, and each driver's own bookkeeping.
func TestSchemaMatchesSQLite(t *testing.T) {
	lite := sqliteSchema(t)
	pgs := postgresSchema(t)
	for _, name := range []string{"blob_text", "blob_text_pending", "index_pieces", "blobs_released"} {
		delete(lite, name)
		delete(pgs, name)
	}
	delete(pgs, "schema_version")
	for table, cols := range lite {
		if got, ok := pgs[table]; !ok {
			t.Errorf("table %s is in SQLite's schema, not in PostgreSQL's", table)
		} else if strings.Join(got, " ") != strings.Join(cols, " ") {
			t.Errorf("table %s: columns %v in PostgreSQL, %v in SQLite", table, got, cols)
		}
	}
	for table := range pgs {
		if _, ok := lite[table]; !ok {
			t.Errorf("table %s is in PostgreSQL's schema, not in SQLite's", table)
		}
	}
}

// sqliteMigrations finds the SQLite store's migrations: in store/ until
// its driver moves to store/sqlite/.
func sqliteMigrations(t *testing.T) []string {
	for _, dir := range []string{"../sqlite/migrations", "../migrations"} {
		names, _ := filepath.Glob(filepath.Join(dir, "[0-9][0-9][0-9][0-9]_*.sql"))
		if len(names) > 0 {
			sort.Strings(names)
			return names
		}
	}
	t.Fatal("the SQLite store's migrations are in neither store/sqlite/migrations nor store/migrations: tell this test where they went")
	return nil
}

// sqliteSchema applies the SQLite migrations to an empty database and returns each table's sorted columns. The functions the
// SQLite store registers for its migrations are stubs: on an empty
// database they are prepared, never called.
func sqliteSchema(t *testing.T) map[string][]string {
	stub := func(args ...any) string { return "" }
	drv := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		for _, name := range []string{"pillarbox_index_text", "pillarbox_blob_terms", "pillarbox_index_join", "pillarbox_index_terms",
			"pillarbox_index_pieces", "pillarbox_fold", "pillarbox_envelope_addresses"} {
			if err := c.RegisterFunc(name, stub, true); err != nil {
				return err
			}
		}
		return nil
	}}
	db := sql.OpenDB(connector{dsn: "file:" + filepath.Join(t.TempDir(), "schema.db"), drv: drv})
	defer db.Close()
	for _, name := range sqliteMigrations(t) {
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	rows, err := db.Query(`SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.sql NOT LIKE 'CREATE VIRTUAL TABLE%'
		AND m.name NOT LIKE 'blob_text_%'`)
	if err != nil {
		t.Fatal(err)
	}
	return columns(t, rows)
}

func postgresSchema(t *testing.T) map[string][]string {
	db := openAt(t, pg.DB(t), -1)
	rows, err := db.Pool().Query(context.Background(), `SELECT table_name::text, column_name::text
		FROM information_schema.columns WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		out[table] = append(out[table], column)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, cols := range out {
		sort.Strings(cols)
	}
	return out
}

func columns(t *testing.T, rows *sql.Rows) map[string][]string {
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		out[table] = append(out[table], column)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, cols := range out {
		sort.Strings(cols)
	}
	return out
}
