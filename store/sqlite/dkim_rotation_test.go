package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"pillarbox/store"
	"testing"
	"time"
)

// TestMigrationToKeyStates builds a version 4 database whose newest key
// was deleted, then opens it: the keys keep their ids and states, gain a
// changed time, and the next key's id is past the deleted one's.
func TestMigrationToKeyStates(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	raw := rawAtVersion(t, path, 4)
	_, err := raw.Exec(`
		INSERT INTO domains(id, name, created) VALUES (1, 'x.org', 5);
		INSERT INTO dkim_keys(domain_id, selector, algorithm, private_key, created, state) VALUES
			(1, 'a', 'rsa-sha256', 'k1', 100, 'active'), (1, 'b', 'ed25519-sha256', 'k2', 100, 'retiring'),
			(1, 'c', 'rsa-sha256', 'k3', 100, 'active');
		DELETE FROM dkim_keys WHERE selector = 'c';`)
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	keys, err := db.DKIMKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys after migration: %+v, %v", keys, err)
	}
	if keys[0].ID != 1 || keys[0].State != store.DKIMActive || keys[1].ID != 2 || keys[1].State != store.DKIMRetiring ||
		keys[0].Changed.Unix() != 100 {
		t.Fatalf("keys after migration: %+v", keys)
	}
	var id int64
	err = db.write(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.AddDKIMKey(1, "d", store.DKIMRSASHA256, store.DKIMPending, []byte("k4"), testNow)
		return err
	})
	if err != nil || id <= 3 {
		t.Fatalf("new key id %d (%v), want above 3, the deleted key's", id, err)
	}
}

func TestDKIMKeyStates(t *testing.T) {
	db := openTest(t, Options{})
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	var dom, k1, k2 int64
	err := db.write(ctx, func(tx *Tx) error {
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
	err = db.write(ctx, func(tx *Tx) error {
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
	err = db.write(ctx, func(tx *Tx) error {
		keys, err := tx.DomainDKIMKeys(dom)
		if err != nil {
			return err
		}
		if len(keys) != 2 || keys[0].State != store.DKIMRetiring || keys[1].State != store.DKIMActive ||
			!keys[0].Changed.Equal(later) || !keys[0].Created.Equal(now) {
			t.Errorf("keys %+v", keys)
		}
		if err := tx.SetDKIMKeyState(k1, "gone", later); err == nil {
			t.Error("an unknown state was stored")
		}
		return tx.DeleteDKIMKey(k1)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.write(ctx, func(tx *Tx) error { return tx.DeleteDKIMKey(k1) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a deleted key: %v", err)
	}
	if keys, _ := db.DKIMKeys(ctx); len(keys) != 1 || keys[0].ID != k2 {
		t.Fatalf("keys left: %+v", keys)
	}
}
