package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"pillarbox/store"
)

func TestDomainsAndKeys(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	now := dirNow
	g0, err := db.DomainsGeneration(ctx)
	if err != nil || g0 != 0 {
		t.Fatalf("generation before any domain: %d, %v", g0, err)
	}
	var id int64
	err = dirWrite(db, func(tx *Tx) error {
		var err error
		if id, err = tx.CreateDomain("example.net", now); err != nil {
			return err
		}
		if _, err := tx.AddDKIMKey(id, "s1", store.DKIMRSASHA256, store.DKIMActive, []byte("rsa"), now); err != nil {
			return err
		}
		_, err = tx.AddDKIMKey(id, "s2", store.DKIMEd25519SHA256, store.DKIMActive, []byte("ed"), now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := db.DomainsGeneration(ctx); g <= g0 {
		t.Fatalf("generation did not move: %d", g)
	}
	err = dirWrite(db, func(tx *Tx) error { _, err := tx.CreateDomain("example.net", now); return err })
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate domain: %v", err)
	}
	err = dirWrite(db, func(tx *Tx) error {
		_, err := tx.AddDKIMKey(id, "s1", store.DKIMRSASHA256, store.DKIMActive, []byte("x"), now)
		return err
	})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate selector: %v", err)
	}
	err = dirWrite(db, func(tx *Tx) error {
		_, err := tx.AddDKIMKey(id, "s3", "rsa-sha1", store.DKIMActive, []byte("x"), now)
		return err
	})
	if err == nil {
		t.Fatal("a rsa-sha1 key was stored")
	}
	keys, err := db.DKIMKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].Selector != "s1" || keys[0].Domain != "example.net" ||
		string(keys[1].PrivateKey) != "ed" || keys[1].State != store.DKIMActive {
		t.Fatalf("keys %+v, %v", keys, err)
	}

	// Users of the domain, and of another that ends the same way.
	err = dirWrite(db, func(tx *Tx) error {
		if d, err := tx.DomainByName("example.net"); err != nil || d.ID != id || !d.Created.Equal(now) {
			t.Errorf("DomainByName: %+v, %v", d, err)
		}
		if _, err := tx.DomainByName("example.org"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DomainByName of no domain: %v", err)
		}
		for _, a := range []string{"a@example.net", "b@example.net", "c@xexample.net", "d@sub.example.net"} {
			if _, err := tx.CreateAccount(a, "h", now); err != nil {
				return err
			}
		}
		if err := tx.SetAlias("team@example.net", []string{"a@example.net", "c@xexample.net"}); err != nil {
			return err
		}
		accts, aliases, err := tx.DomainUsers("example.net")
		if accts != 2 || aliases != 1 || err != nil {
			t.Errorf("DomainUsers: %d accounts, %d aliases, %v", accts, aliases, err)
		}
		if err := tx.DeleteDomainUsers("example.net"); err != nil {
			return err
		}
		return tx.DeleteDomain("example.net")
	})
	if err != nil {
		t.Fatal(err)
	}
	accts, _ := db.Accounts(ctx)
	if len(accts) != 2 || accts[0].Address != "c@xexample.net" || accts[1].Address != "d@sub.example.net" {
		t.Fatalf("accounts left: %+v", accts)
	}
	if keys, _ := db.DKIMKeys(ctx); len(keys) != 0 {
		t.Fatalf("keys outlived their domain: %+v", keys)
	}
	if doms, _ := db.Domains(ctx); len(doms) != 0 {
		t.Fatalf("domains left: %+v", doms)
	}
	err = dirWrite(db, func(tx *Tx) error { return tx.DeleteDomain("example.net") })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete of a missing domain: %v", err)
	}
}

func TestDKIMKeyStates(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	now := dirNow
	var dom, k1, k2 int64
	err := dirWrite(db, func(tx *Tx) error {
		var err error
		if dom, err = tx.CreateDomain("example.net", now); err != nil {
			return err
		}
		if k1, err = tx.AddDKIMKey(dom, "s1", store.DKIMRSASHA256, store.DKIMActive, []byte("a"), now); err != nil {
			return err
		}
		k2, err = tx.AddDKIMKey(dom, "s2", store.DKIMRSASHA256, store.DKIMPending, []byte("b"), now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	g0, _ := db.DomainsGeneration(ctx)
	later := now.Add(time.Hour)
	err = dirWrite(db, func(tx *Tx) error {
		if err := tx.SetDKIMKeyState(k1, store.DKIMRetiring, later); err != nil {
			return err
		}
		return tx.SetDKIMKeyState(k2, store.DKIMActive, later)
	})
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := db.DomainsGeneration(ctx); g <= g0 {
		t.Fatal("a state change did not move the domains generation")
	}
	err = dirWrite(db, func(tx *Tx) error {
		keys, err := tx.DomainDKIMKeys(dom)
		if err != nil {
			return err
		}
		if len(keys) != 2 || keys[0].State != store.DKIMRetiring || keys[1].State != store.DKIMActive ||
			!keys[0].Changed.Equal(later) || !keys[0].Created.Equal(now) || keys[0].Domain != "example.net" {
			t.Errorf("keys %+v", keys)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// An unknown state is refused by the CHECK; unlike SQLite, that
	// aborts the transaction, so it is tried in one of its own.
	err = dirWrite(db, func(tx *Tx) error { return tx.SetDKIMKeyState(k1, "gone", later) })
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "23514" {
		t.Fatalf("an unknown state: %v, want a check violation", err)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.DeleteDKIMKey(k1) }); err != nil {
		t.Fatal(err)
	}
	err = dirWrite(db, func(tx *Tx) error { return tx.DeleteDKIMKey(k1) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a deleted key: %v", err)
	}
	err = dirWrite(db, func(tx *Tx) error { return tx.SetDKIMKeyState(k1, store.DKIMActive, later) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the state of a deleted key: %v", err)
	}
	if keys, _ := db.DKIMKeys(ctx); len(keys) != 1 || keys[0].ID != k2 {
		t.Fatalf("keys left: %+v", keys)
	}
}

// AddDomain goes on after ErrExists from a domain or a selector (it then
// makes postmaster@): the refusal must leave the transaction usable.
func TestDomainRefusalsKeepTheTransaction(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	var dom int64
	err := dirWrite(db, func(tx *Tx) error {
		var err error
		if dom, err = tx.CreateDomain("example.net", dirNow); err != nil {
			return err
		}
		_, err = tx.AddDKIMKey(dom, "s1", store.DKIMRSASHA256, store.DKIMActive, []byte("a"), dirNow)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = dirWrite(db, func(tx *Tx) error {
		if _, err := tx.CreateDomain("example.net", dirNow); !errors.Is(err, store.ErrExists) {
			t.Errorf("domain again: %v", err)
		}
		if _, err := tx.AddDKIMKey(dom, "s1", store.DKIMRSASHA256, store.DKIMActive, []byte("b"), dirNow); !errors.Is(err, store.ErrExists) {
			t.Errorf("selector again: %v", err)
		}
		if err := tx.DeleteDomain("example.org"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting no domain: %v", err)
		}
		_, err := tx.AddDKIMKey(dom, "s2", store.DKIMEd25519SHA256, store.DKIMPending, []byte("c"), dirNow)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := db.DKIMKeys(ctx); len(keys) != 2 || keys[1].Selector != "s2" || string(keys[0].PrivateKey) != "a" {
		t.Fatalf("keys %+v", keys)
	}
}

// Two nodes adding one domain at once (serve starting on both with the
// config's domains): the second waits for the first and gets ErrExists.
func TestCreateDomainAcrossNodes(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	err := dirHeld(t, a, b,
		func(tx *Tx) error { _, err := tx.CreateDomain("example.net", dirNow); return err },
		func(tx *Tx) error { _, err := tx.CreateDomain("example.net", dirNow); return err })
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("the second node's domain: %v, want ErrExists", err)
	}
	if doms, _ := b.Domains(context.Background()); len(doms) != 1 {
		t.Fatalf("domains %+v", doms)
	}
}

// The domain's users are the addresses ending in "@" and its name, its
// LIKE pattern characters taken literally and ASCII case ignored, as
// SQLite's LIKE does.
func TestDomainUsersMatch(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	dirAccounts(t, db, "a@a_b.org", "b@axb.org", "c@A_B.ORG", "d@x%y.org", "e@xzy.org", `f@a\b.org`)
	for _, c := range []struct {
		domain string
		want   int
	}{{"a_b.org", 2}, {"axb.org", 1}, {"x%y.org", 1}, {`a\b.org`, 1}, {"b.org", 0}} {
		err := dirWrite(db, func(tx *Tx) error {
			n, _, err := tx.DomainUsers(c.domain)
			if err != nil || n != c.want {
				t.Errorf("DomainUsers(%s) = %d, %v; want %d", c.domain, n, err, c.want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Deleting no account leaves the generation.
	if err := dirWrite(db, func(tx *Tx) error { return tx.DeleteDomainUsers("b.org") }); err != nil {
		t.Fatal(err)
	}
	if g, _ := db.AccountsGeneration(context.Background()); g != 0 {
		t.Fatalf("deleting nobody moved the generation to %d", g)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.DeleteDomainUsers("a_b.org") }); err != nil {
		t.Fatal(err)
	}
	accts, _ := db.Accounts(context.Background())
	var left []string
	for _, a := range accts {
		left = append(left, a.Address)
	}
	if strings.Join(left, " ") != `b@axb.org d@x%y.org e@xzy.org f@a\b.org` {
		t.Fatalf("accounts left: %v", left)
	}
	if g, _ := db.AccountsGeneration(context.Background()); g == 0 {
		t.Fatal("deleting accounts left the generation")
	}
}

// Domains and keys come in byte order of the name whatever the
// database's collation.
func TestDomainsOrderIsBytewise(t *testing.T) {
	t.Parallel()
	db := dirICUDatabase(t)
	ctx := context.Background()
	err := dirWrite(db, func(tx *Tx) error {
		for _, n := range []string{"b.org", "A.org", "a-b.org", "ab.org"} {
			id, err := tx.CreateDomain(n, dirNow)
			if err != nil {
				return err
			}
			if _, err := tx.AddDKIMKey(id, "s", store.DKIMRSASHA256, store.DKIMActive, []byte("k"), dirNow); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	doms, err := db.Domains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := db.DKIMKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var byDomain, byKey []string
	for i := range doms {
		byDomain = append(byDomain, doms[i].Name)
	}
	for i := range keys {
		byKey = append(byKey, keys[i].Domain)
	}
	want := "A.org a-b.org ab.org b.org"
	if strings.Join(byDomain, " ") != want || strings.Join(byKey, " ") != want {
		t.Fatalf("domains %v, keys %v; want %s", byDomain, byKey, want)
	}
}
