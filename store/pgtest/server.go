package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Server hands out databases on one PostgreSQL server: a cluster of its
// own, made on first use, or the server of $PILLARBOX_TEST_PG_DSN.
type Server struct {
	once    sync.Once
	cluster *cluster // nil until started, and with an external server
	admin   string   // DSN of a database to run CREATE and DROP DATABASE from
	err     error    // why there is no server; errNoBinaries skips
	prefix  string   // of database names: unique to this Server
	made    atomic.Int64
}

// Main runs the tests of m with *srv set to a new Server, stops it
// afterwards, and returns m's exit code, with 1 if stopping failed.
func Main(m *testing.M, srv **Server) int {
	s := New()
	*srv = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// New returns a Server that starts on its first DB call.
func New() *Server {
	var b [4]byte
	rand.Read(b[:])
	// Several test binaries may share one external server: the process
	// id and a random part keep their names apart.
	return &Server{prefix: fmt.Sprintf("pgtest_%d_%s_", os.Getpid(), hex.EncodeToString(b[:]))}
}

// start makes the server ready, once; later calls return its outcome.
func (s *Server) start() error {
	s.once.Do(func() {
		if dsn := os.Getenv("PILLARBOX_TEST_PG_DSN"); dsn != "" {
			s.admin = dsn
			return
		}
		bin, err := findBinaries()
		if err != nil {
			s.err = err
			return
		}
		s.cluster, s.admin, s.err = startCluster(bin)
	})
	return s.err
}

// Stop stops and removes the cluster, if one was started; it leaves an
// external server alone. The databases DB made are dropped by their
// tests' cleanups.
func (s *Server) Stop() error {
	s.once.Do(func() {}) // no start after Stop
	if s.cluster == nil {
		return nil
	}
	return s.cluster.stop()
}

// DB creates an empty database for t, returns its DSN and drops it (with
// any connection t left open) when t ends. t is skipped when there are
// no server binaries, and fails when the server cannot start.
func (s *Server) DB(t testing.TB) string {
	t.Helper()
	if s == nil {
		t.Fatal("pgtest: no Server: call pgtest.Main from TestMain")
	}
	if err := s.start(); err == errNoBinaries {
		t.Skip(err)
	} else if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := fmt.Sprintf("%s%d", s.prefix, s.made.Add(1))
	if err := s.admin1(fmt.Sprintf("CREATE DATABASE %s", name)); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.admin1(fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", name)); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	dsn, err := withDatabase(s.admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// admin1 runs one statement on the admin database, on a connection of
// its own: CREATE and DROP DATABASE are rare enough not to need a pool.
func (s *Server) admin1(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn naming the database name, whether dsn is a
// URL or key=value pairs.
func withDatabase(dsn, name string) (string, error) {
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		return "", err
	}
	return setDatabase(dsn, name), nil
}
