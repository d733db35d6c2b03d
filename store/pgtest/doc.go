// Package pgtest gives tests a real, throwaway PostgreSQL.
//
// A test package starts one cluster for its whole binary from TestMain and
// asks it for a fresh database per test:
//
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pg.DB(t) // a new, empty database, dropped when t ends
//		...
//	}
//
// The cluster is made on the first DB call (a binary whose selected tests
// need no database pays nothing), by initdb into a temporary directory,
// and listens only on a Unix socket in that directory. Main stops it and
// removes the directory when the tests end, failed or not; if the test
// binary dies instead (a panic, -timeout), the postmaster gets SIGQUIT
// as its parent-death signal and shuts down at once, leaving only the
// directory behind.
//
// The server binaries are looked for in $PILLARBOX_PG_BIN, then on PATH,
// then in the newest /usr/lib/postgresql/*/bin; without them, every test
// that asks for a database is skipped with one message saying so. With
// $PILLARBOX_TEST_PG_DSN set, no cluster is started: the databases are
// made on that server, which the DSN must let create and drop them.
//
// initdb and postgres refuse to run as root; when the test runs as root,
// both run as the user postgres (or nobody, if there is no such user),
// which then owns the temporary directory.
package pgtest
