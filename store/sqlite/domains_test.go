package sqlite

import (
	"context"
	"errors"
	"pillarbox/store"
	"testing"
	"time"
)

func TestDomainsAndKeys(t *testing.T) {
	db := openTest(t, Options{})
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	g0, err := db.DomainsGeneration(ctx)
	if err != nil || g0 != 0 {
		t.Fatalf("generation before any domain: %d, %v", g0, err)
	}
	var id int64
	err = db.write(ctx, func(tx *Tx) error {
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
	err = db.write(ctx, func(tx *Tx) error { _, err := tx.CreateDomain("example.net", now); return err })
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate domain: %v", err)
	}
	err = db.write(ctx, func(tx *Tx) error {
		_, err := tx.AddDKIMKey(id, "s1", store.DKIMRSASHA256, store.DKIMActive, []byte("x"), now)
		return err
	})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate selector: %v", err)
	}
	err = db.write(ctx, func(tx *Tx) error {
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
	err = db.write(ctx, func(tx *Tx) error {
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
	err = db.write(ctx, func(tx *Tx) error { return tx.DeleteDomain("example.net") })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete of a missing domain: %v", err)
	}
}
