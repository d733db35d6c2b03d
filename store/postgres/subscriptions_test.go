package postgres

import (
	"context"
	"strings"
	"testing"
)

func subscriptionsOf(t *testing.T, db *DB, account int64) string {
	t.Helper()
	names, err := db.Subscriptions(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, ",")
}

// Names are subscribed once, whether or not a mailbox has them, per
// account, and go with their account.
func TestSubscriptions(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ids := dirAccounts(t, db, "a@x.org", "b@x.org")
	err := dirWrite(db, func(tx *Tx) error {
		for _, n := range []string{"Sent", "INBOX", "Sent", "Archive/2024"} {
			if err := tx.Subscribe(ids[0], n); err != nil {
				return err
			}
		}
		return tx.Subscribe(ids[1], "Other")
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := subscriptionsOf(t, db, ids[0]); got != "Archive/2024,INBOX,Sent" {
		t.Fatalf("subscriptions %q", got)
	}
	var was [3]bool
	err = dirWrite(db, func(tx *Tx) error {
		var err error
		if was[0], err = tx.Unsubscribe(ids[0], "Sent"); err != nil {
			return err
		}
		if was[1], err = tx.Unsubscribe(ids[0], "Sent"); err != nil {
			return err
		}
		was[2], err = tx.Unsubscribe(ids[0], "Other")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if was != [3]bool{true, false, false} {
		t.Fatalf("Unsubscribe reported %v, want true, false, false", was)
	}
	if got := subscriptionsOf(t, db, ids[0]); got != "Archive/2024,INBOX" {
		t.Fatalf("after unsubscribing: %q", got)
	}
	if got := subscriptionsOf(t, db, ids[1]); got != "Other" {
		t.Fatalf("the other account's: %q", got)
	}
	if err := dirWrite(db, func(tx *Tx) error { return tx.DeleteAccount("b@x.org") }); err != nil {
		t.Fatal(err)
	}
	var n int
	query1(t, db.pool, "SELECT count(*) FROM subscriptions", &n)
	if n != 2 {
		t.Fatalf("%d subscriptions after deleting an account, want 2", n)
	}
}

// Two sessions on two nodes subscribing one name at once: the second
// waits for the first and finds it subscribed, without an error.
func TestSubscribeAcrossNodes(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	acct := dirAccounts(t, a, "a@x.org")[0]
	err := dirHeld(t, a, b,
		func(tx *Tx) error { return tx.Subscribe(acct, "Lists") },
		func(tx *Tx) error { return tx.Subscribe(acct, "Lists") })
	if err != nil {
		t.Fatalf("the second subscription: %v", err)
	}
	if got := subscriptionsOf(t, b, acct); got != "Lists" {
		t.Fatalf("subscriptions %q", got)
	}
}

// Names come in byte order, as in SQLite, whatever the collation.
func TestSubscriptionsOrderIsBytewise(t *testing.T) {
	t.Parallel()
	db := dirICUDatabase(t)
	acct := dirAccounts(t, db, "a@x.org")[0]
	err := dirWrite(db, func(tx *Tx) error {
		for _, n := range []string{"b", "Z", "é", "f", "a"} {
			if err := tx.Subscribe(acct, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := subscriptionsOf(t, db, acct); got != "Z,a,b,f,é" {
		t.Fatalf("subscriptions in order %q", got)
	}
}
