package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// dirNow is the tests' clock, as testNow in the SQLite store's tests.
var dirNow = time.Unix(1_700_000_000, 0)

// dirWrite runs fn through db's writer.
func dirWrite(db *DB, fn func(tx *Tx) error) error { return db.write(context.Background(), fn) }

// dirAccounts makes accounts of the given addresses, failing t.
func dirAccounts(t *testing.T, db *DB, addrs ...string) []int64 {
	t.Helper()
	ids := make([]int64, len(addrs))
	err := dirWrite(db, func(tx *Tx) error {
		for i, a := range addrs {
			var err error
			if ids[i], err = tx.CreateAccount(a, "h", dirNow); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// dirICUDatabase makes, beside the test's database, one whose default
// collation is ICU's English (where "é" comes before "f" and case is
// secondary), at the newest schema, and returns it opened: the store must
// order as SQLite does (bytes) whatever the database's collation. The
// test is skipped when the server has no ICU.
func dirICUDatabase(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	dsn := pg.DB(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var base string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&base); err != nil {
		t.Fatal(err)
	}
	name := base + "_icu"
	_, err = conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'
		LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C'`, name))
	if err != nil {
		t.Skipf("no ICU database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	icu := dsn + " dbname=" + name // a later dbname overrides
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		icu = strings.Replace(dsn, "/"+cfg.Database, "/"+name, 1)
	}
	db := openAt(t, icu, -1)
	var opened string
	var icuOrder bool
	err = db.pool.QueryRow(ctx, "SELECT current_database(), 'é' < 'f' AND 'b' < 'C'").Scan(&opened, &icuOrder)
	if err != nil || opened != name || !icuOrder {
		t.Fatalf("opened %q, ICU's order %v (%v), want %s in ICU's order", opened, icuOrder, err, name)
	}
	return db
}

func TestAliases(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	write := func(fn func(tx *Tx) error) error { return dirWrite(db, fn) }
	if err := write(func(tx *Tx) error {
		for _, a := range []string{"a@x.org", "b@x.org"} {
			if _, err := tx.CreateAccount(a, "h", dirNow); err != nil {
				return err
			}
		}
		return tx.SetAlias("team@x.org", []string{"b@x.org", "a@x.org"})
	}); err != nil {
		t.Fatal(err)
	}
	targets, err := db.AliasTargets(ctx, "team@x.org")
	if err != nil || len(targets) != 2 || targets[0].Address != "a@x.org" || !targets[0].Created.Equal(dirNow) {
		t.Fatalf("targets %v, %v", targets, err)
	}
	if _, err := db.AliasTargets(ctx, "a@x.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("targets of an account: %v", err)
	}
	if err := write(func(tx *Tx) error { return tx.SetAlias("c@x.org", []string{"nobody@x.org"}) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alias to a missing account: %v", err)
	}
	if err := write(func(tx *Tx) error { return tx.SetAlias("a@x.org", []string{"b@x.org"}) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("alias over an account: %v", err)
	}
	if err := write(func(tx *Tx) error { _, err := tx.CreateAccount("team@x.org", "h", dirNow); return err }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("account over an alias: %v", err)
	}
	if err := write(func(tx *Tx) error { return tx.DeleteAccount("a@x.org") }); err != nil {
		t.Fatal(err)
	}
	all, _ := db.Aliases(ctx)
	if len(all) != 1 || len(all[0].Targets) != 1 || all[0].Targets[0] != "b@x.org" {
		t.Fatalf("aliases after deleting a target: %+v", all)
	}
}

// SetAlias replaces the targets, refuses the whole change when one target
// is not an account, and DeleteAlias removes it once.
func TestSetAliasReplaces(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	dirAccounts(t, db, "a@x.org", "b@x.org", "c@x.org")
	if err := dirWrite(db, func(tx *Tx) error { return tx.SetAlias("team@x.org", []string{"a@x.org", "b@x.org"}) }); err != nil {
		t.Fatal(err)
	}
	err := dirWrite(db, func(tx *Tx) error { return tx.SetAlias("team@x.org", []string{"c@x.org", "ghost@x.org"}) })
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "ghost@x.org") {
		t.Fatalf("a missing target: %v", err)
	}
	if all, _ := db.Aliases(ctx); len(all) != 1 || strings.Join(all[0].Targets, ",") != "a@x.org,b@x.org" {
		t.Fatalf("a refused change changed the alias: %+v", all)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.SetAlias("team@x.org", []string{"c@x.org", "c@x.org"}) }); err != nil {
		t.Fatal(err)
	}
	if all, _ := db.Aliases(ctx); len(all) != 1 || strings.Join(all[0].Targets, ",") != "c@x.org" {
		t.Fatalf("after replacing the targets: %+v", all)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.DeleteAlias("team@x.org") }); err != nil {
		t.Fatal(err)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.DeleteAlias("team@x.org") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a deleted alias: %v", err)
	}
}

// Accounts: creation, lookup by address and id, a password change moving
// the credential and the generation, deletion.
func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	if g, err := db.AccountsGeneration(ctx); g != 0 || err != nil {
		t.Fatalf("generation before any change: %d, %v", g, err)
	}
	ids := dirAccounts(t, db, "b@x.org", "a@x.org")
	if g, _ := db.AccountsGeneration(ctx); g != 0 {
		t.Fatalf("creating accounts moved the generation to %d", g)
	}
	a, err := db.AccountByAddress(ctx, "b@x.org")
	if err != nil || a.ID != ids[0] || a.PasswordHash != "h" || !a.Created.Equal(dirNow) || a.Credential != 1 || a.Quota != 0 || a.Usage != 0 {
		t.Fatalf("account %+v, %v", a, err)
	}
	if _, err := db.AccountByAddress(ctx, "nobody@x.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
	all, err := db.Accounts(ctx)
	if err != nil || len(all) != 2 || all[0].Address != "a@x.org" || all[1].ID != ids[0] {
		t.Fatalf("accounts %+v, %v", all, err)
	}
	err = dirWrite(db, func(tx *Tx) error {
		if err := tx.SetPassword("b@x.org", "h2"); err != nil {
			return err
		}
		a, err := tx.AccountByAddress("b@x.org")
		if err != nil || a.PasswordHash != "h2" || a.Credential != 2 {
			t.Errorf("inside the change: %+v, %v", a, err)
		}
		if addr, err := tx.AccountAddress(ids[1]); addr != "a@x.org" || err != nil {
			t.Errorf("address of %d: %q, %v", ids[1], addr, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g1, _ := db.AccountsGeneration(ctx)
	if g1 == 0 {
		t.Fatal("a password change left the generation")
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.SetPassword("nobody@x.org", "h") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("password of an unknown account: %v", err)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.DeleteAccount("b@x.org") }); err != nil {
		t.Fatal(err)
	}
	if g, _ := db.AccountsGeneration(ctx); g <= g1 {
		t.Fatalf("a deletion left the generation at %d", g)
	}
	err = dirWrite(db, func(tx *Tx) error {
		if _, err := tx.AccountAddress(ids[0]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("address of a deleted account: %v", err)
		}
		if _, err := tx.AccountByAddress("b@x.org"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted account inside a write: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.DeleteAccount("b@x.org") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a deleted account: %v", err)
	}
}

// Credentials and CheckCredential follow password changes and deletions.
func TestCredentials(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	ids := dirAccounts(t, db, "a@x.org", "b@x.org", "c@x.org")
	if got, err := db.Credentials(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("credentials of nobody: %v, %v", got, err)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.SetPassword("b@x.org", "h2") }); err != nil {
		t.Fatal(err)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.DeleteAccount("c@x.org") }); err != nil {
		t.Fatal(err)
	}
	got, err := db.Credentials(ctx, []int64{ids[0], ids[1], ids[2], 999})
	if err != nil || len(got) != 2 || got[ids[0]] != 1 || got[ids[1]] != 2 {
		t.Fatalf("credentials %v, %v", got, err)
	}
	check := func(id, cred int64) error {
		return dirWrite(db, func(tx *Tx) error { return tx.CheckCredential(id, cred) })
	}
	if err := check(ids[1], 2); err != nil {
		t.Errorf("current credential: %v", err)
	}
	if err := check(ids[1], 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old credential: %v", err)
	}
	if err := check(ids[2], 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted account: %v", err)
	}
}

// PostgreSQL aborts a transaction at its first failing statement, where
// SQLite undoes just the statement. The refusals callers go on after
// (AddDomain makes postmaster@ unless an alias has the address) must
// leave the transaction usable, and what it does next is committed.
func TestRefusalsKeepTheTransaction(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	dirAccounts(t, db, "a@x.org")
	if err := dirWrite(db, func(tx *Tx) error { return tx.SetAlias("team@x.org", []string{"a@x.org"}) }); err != nil {
		t.Fatal(err)
	}
	err := dirWrite(db, func(tx *Tx) error {
		for _, a := range []string{"a@x.org", "team@x.org"} {
			if _, err := tx.CreateAccount(a, "h", dirNow); !errors.Is(err, store.ErrExists) {
				return fmt.Errorf("account %s again: %v", a, err)
			}
		}
		if err := tx.SetAlias("a@x.org", nil); !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("alias over an account: %v", err)
		}
		if err := tx.SetAlias("z@x.org", []string{"ghost@x.org"}); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("alias to nobody: %v", err)
		}
		if err := tx.DeleteAlias("ghost@x.org"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("deleting no alias: %v", err)
		}
		_, err := tx.CreateAccount("b@x.org", "h", dirNow)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AccountByAddress(ctx, "b@x.org"); err != nil {
		t.Fatalf("the write after the refusals: %v", err)
	}
}

// dirHeld runs first on node a's writer and keeps its transaction open
// until then runs on node b and waits for a lock: then a commits, and
// dirHeld returns then's error. It is how two nodes' writes overlap in
// the tests, deterministically.
func dirHeld(t *testing.T, a, b *DB, first func(tx *Tx) error, then func(tx *Tx) error) error {
	t.Helper()
	held, release := make(chan struct{}), make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- dirWrite(a, func(tx *Tx) error {
			if err := first(tx); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	select {
	case <-held:
	case err := <-firstDone:
		t.Fatalf("the first write: %v", err)
	}
	thenDone := make(chan error, 1)
	go func() { thenDone <- dirWrite(b, then) }()
	func() {
		defer close(release) // also when t fails: a's writer must go on
		waitForLockWait(t, a.pool)
	}()
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	return <-thenDone
}

// Two nodes making an account and an alias of one address at once: the
// alias waits for the address's lock, then sees the account.
func TestAccountAndAliasAcrossNodes(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	dirAccounts(t, a, "t@x.org")
	err := dirHeld(t, a, b,
		func(tx *Tx) error { _, err := tx.CreateAccount("r@x.org", "h", dirNow); return err },
		func(tx *Tx) error { return tx.SetAlias("r@x.org", []string{"t@x.org"}) })
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("alias over an account another node was making: %v, want ErrExists", err)
	}
	err = dirHeld(t, b, a,
		func(tx *Tx) error { return tx.SetAlias("s@x.org", []string{"t@x.org"}) },
		func(tx *Tx) error { _, err := tx.CreateAccount("s@x.org", "h", dirNow); return err })
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("account over an alias another node was making: %v, want ErrExists", err)
	}
	var both int
	query1(t, a.pool, "SELECT count(*) FROM accounts c JOIN aliases x ON x.address = c.address", &both)
	if both != 0 {
		t.Fatalf("%d addresses are both an account and an alias", both)
	}
}

// An alias pointed at an account another node is deleting waits, then
// finds it gone (ErrNotFound), rather than failing on the foreign key.
func TestAliasTargetDeletedAcrossNodes(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	dirAccounts(t, a, "t@x.org")
	err := dirHeld(t, a, b,
		func(tx *Tx) error { return tx.DeleteAccount("t@x.org") },
		func(tx *Tx) error { return tx.SetAlias("team@x.org", []string{"t@x.org"}) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alias to an account another node was deleting: %v, want ErrNotFound", err)
	}
}

// Lists come in byte order, as SQLite's, also in a database whose
// collation would put "é" before "f" and "B" after "a".
func TestAccountsOrderIsBytewise(t *testing.T) {
	t.Parallel()
	db := dirICUDatabase(t)
	ctx := context.Background()
	dirAccounts(t, db, "f@x.org", "é@x.org", "a@x.org", "B@x.org")
	err := dirWrite(db, func(tx *Tx) error {
		if err := tx.SetAlias("él@x.org", []string{"é@x.org", "f@x.org"}); err != nil {
			return err
		}
		return tx.SetAlias("fl@x.org", []string{"a@x.org", "B@x.org"})
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := db.Accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range all {
		got = append(got, a.Address)
	}
	if strings.Join(got, " ") != "B@x.org a@x.org f@x.org é@x.org" {
		t.Errorf("accounts in order %v", got)
	}
	aliases, err := db.Aliases(ctx)
	if err != nil || len(aliases) != 2 || aliases[0].Address != "fl@x.org" ||
		strings.Join(aliases[0].Targets, " ") != "B@x.org a@x.org" || strings.Join(aliases[1].Targets, " ") != "f@x.org é@x.org" {
		t.Errorf("aliases %+v, %v", aliases, err)
	}
	targets, err := db.AliasTargets(ctx, "él@x.org")
	if err != nil || len(targets) != 2 || targets[0].Address != "f@x.org" {
		t.Errorf("targets %+v, %v", targets, err)
	}
}
