package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
)

// An empty database opens at the newest version, with the tables of the
// schema.
func TestMigrateEmpty(t *testing.T) {
	ctx := context.Background()
	db := openAt(t, pg.DB(t), -1)
	if v, err := db.Version(ctx); err != nil || v != latest(t) {
		t.Fatalf("version %d, %v; want %d", v, err, latest(t))
	}
	var n int
	err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_name = ANY($1)`,
		[]string{"accounts", "mailboxes", "messages", "blobs", "blob_text", "queue", "mailbox_counts", "vanished", "subscriptions", "blob_headers"}).Scan(&n)
	if err != nil || n != 10 {
		t.Errorf("%d of 10 tables, %v", n, err)
	}
	// Opening again applies nothing and keeps the version.
	again := openAt(t, db.Pool().Config().ConnString(), -1)
	if v, err := again.Version(ctx); err != nil || v != latest(t) {
		t.Errorf("version after a second open: %d, %v", v, err)
	}
}

// Two nodes opening one empty database at once both succeed, and the
// schema is made once (a second run of any migration would fail: its
// CREATE TABLE would find the table there).
func TestConcurrentOpen(t *testing.T) {
	dsn := pg.DB(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			db, err := Open(context.Background(), dsn)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	if got, err := openAt(t, dsn, -1).Version(context.Background()); err != nil || got != latest(t) {
		t.Errorf("version %d, %v", got, err)
	}
}

// Migrators racing over a sequence whose steps each log a row (with no
// key that would stop a second run) leave exactly one row per step, in
// order: the lock serialises them, and each reads the version its
// predecessor committed.
func TestConcurrentMigratorsRunEachStepOnce(t *testing.T) {
	ctx := context.Background()
	fsys := fstest.MapFS{"migrations/0001_log.sql": {Data: []byte("CREATE TABLE log (step int); INSERT INTO log VALUES (1);")}}
	for i := 2; i <= 6; i++ {
		name := "migrations/000" + string(rune('0'+i)) + "_step.sql"
		fsys[name] = &fstest.MapFile{Data: []byte("INSERT INTO log VALUES (" + string(rune('0'+i)) + ");")}
	}
	list, err := loadMigrations(fsys)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, pg.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- migrate(ctx, pool, list, len(list)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var steps []int32
	if err := pool.QueryRow(ctx, "SELECT array_agg(step ORDER BY step) FROM log").Scan(&steps); err != nil {
		t.Fatal(err)
	}
	if len(steps) != 6 || steps[0] != 1 || steps[5] != 6 {
		t.Errorf("steps run: %v, want 1-6 once each", steps)
	}
}

// A failed migration leaves the database at the version before it,
// with nothing of the failed one applied.
func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	list, err := loadMigrations(fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (v int);")},
		"migrations/0002_b.sql": {Data: []byte("CREATE TABLE b (v int);\nINSERT INTO nowhere VALUES (1);")},
	})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, pg.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	err = migrate(ctx, pool, list, 2)
	if err == nil || !strings.Contains(err.Error(), "0002_b.sql: line 2") {
		t.Fatalf("migrate: %v; want the failure of 0002_b.sql at line 2", err)
	}
	if v, err := schemaVersion(ctx, pool); err != nil || v != 1 {
		t.Errorf("version %d, %v; want 1", v, err)
	}
	var b *string
	pool.QueryRow(ctx, "SELECT to_regclass('b')::text").Scan(&b)
	if b != nil {
		t.Errorf("table b of the failed migration is there")
	}
}

// A database a newer build migrated further is refused, not used.
func TestNewerDatabaseRefused(t *testing.T) {
	db := openAt(t, pg.DB(t), -1)
	exec(t, db.Pool(), "UPDATE schema_version SET version = version + 1")
	_, err := Open(context.Background(), db.Pool().Config().ConnString())
	if err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Errorf("open of a newer database: %v", err)
	}
}

func TestLoadMigrationsRefusesGapsAndDuplicates(t *testing.T) {
	for _, names := range [][]string{
		{"0001_a.sql", "0003_c.sql"},
		{"0001_a.sql", "0001_b.sql"},
		{"0002_b.sql"},
		{"1_a.sql"},
		{},
	} {
		fsys := fstest.MapFS{}
		for _, n := range names {
			fsys["migrations/"+n] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		}
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%v: no error", names)
		}
	}
	list, err := loadMigrations(migrationFiles)
	if err != nil || len(list) < 21 {
		t.Fatalf("the embedded migrations: %d, %v", len(list), err)
	}
}
