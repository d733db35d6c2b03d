package pgtest

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var pg *Server

func TestMain(m *testing.M) { os.Exit(Main(m, &pg)) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// Two databases of DB are apart: a table made and filled in one is not
// in the other, and each is the database its DSN names.
func TestDatabasesAreIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := connect(t, pg.DB(t)), connect(t, pg.DB(t))
	if _, err := a.Exec(ctx, "CREATE TABLE t (v text); INSERT INTO t VALUES ('a')"); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := a.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "a" {
		t.Fatalf("row in the first database: %q, %v", v, err)
	}
	_, err := b.Exec(ctx, "SELECT v FROM t")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" { // undefined_table
		t.Fatalf("table of the first database in the second: %v", err)
	}
	var nameA, nameB string
	a.QueryRow(ctx, "SELECT current_database()").Scan(&nameA)
	b.QueryRow(ctx, "SELECT current_database()").Scan(&nameB)
	if nameA == nameB || !strings.HasPrefix(nameA, "pgtest_") {
		t.Errorf("databases %q and %q", nameA, nameB)
	}
}

// A database is dropped when its test ends, even with a connection
// still open to it.
func TestDatabaseDroppedAtCleanup(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		conn, err := pgx.Connect(context.Background(), pg.DB(t))
		if err != nil {
			t.Fatal(err)
		}
		// Left open on purpose: DROP DATABASE ... WITH (FORCE) ends it.
		conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&name)
	})
	admin := connect(t, pg.admin)
	var n int
	if err := admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 0 || name == "" {
		t.Errorf("database %q after its test: %d rows, %v", name, n, err)
	}
}

// The cluster listens on its Unix socket only, and runs with the
// settings the package documents.
func TestClusterSettings(t *testing.T) {
	conn := connect(t, pg.DB(t))
	if pg.cluster == nil {
		t.Skip("an external server (PILLARBOX_TEST_PG_DSN)")
	}
	want := map[string]string{"listen_addresses": "", "fsync": "off", "full_page_writes": "off", "synchronous_commit": "on"}
	for name, value := range want {
		var got string
		if err := conn.QueryRow(context.Background(), "SELECT current_setting($1)", name).Scan(&got); err != nil || got != value {
			t.Errorf("%s = %q, %v; want %q", name, got, err, value)
		}
	}
}

func TestSetDatabase(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"host=/tmp/x user=postgres dbname=postgres", "host=/tmp/x user=postgres dbname=postgres dbname=db1"},
		{"postgres://u:p@localhost:5433/postgres?sslmode=disable", "postgres://u:p@localhost:5433/db1?sslmode=disable"},
	} {
		got := setDatabase(c.dsn, "db1")
		if got != c.want {
			t.Errorf("setDatabase(%q) = %q, want %q", c.dsn, got, c.want)
		}
		cfg, err := pgconn.ParseConfig(got)
		if err != nil || cfg.Database != "db1" {
			t.Errorf("%q parses to database %v, %v", got, cfg, err)
		}
	}
}
