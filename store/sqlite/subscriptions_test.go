package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A version 13 database with subscribed mailboxes opens migrated (0015):
// the subscribed names are in the subscriptions, the mailboxes keep their
// ids and read as subscribed, and deleting one then leaves its name
// subscribed.
func TestMigrationToSubscriptions(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	n := migrationNumber(t, "_subscriptions.sql")
	raw := rawAtVersion(t, path, n-1)
	_, err := raw.Exec(`
		INSERT INTO accounts(id, address, password_hash, created) VALUES (1, 'a@example.org', 'x', 0), (2, 'b@example.org', 'x', 0);
		INSERT INTO mailboxes(id, account_id, name, uidvalidity, subscribed) VALUES
			(5, 1, 'INBOX', 1, 1), (6, 1, 'Archive', 2, 0), (9, 1, 'Work/Old', 3, 1), (12, 2, 'INBOX', 4, 1);`)
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
	for _, c := range []struct {
		account int64
		want    []string
	}{{1, []string{"INBOX", "Work/Old"}}, {2, []string{"INBOX"}}} {
		got, err := db.Subscriptions(ctx, c.account)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("account %d subscriptions = %q, %v; want %q", c.account, got, err, c.want)
		}
	}
	for _, c := range []struct {
		id         int64
		name       string
		subscribed bool
	}{{5, "INBOX", true}, {6, "Archive", false}, {9, "Work/Old", true}} {
		m, err := db.MailboxByID(ctx, c.id)
		if err != nil || m.Name != c.name || m.Subscribed != c.subscribed {
			t.Errorf("mailbox %d = %+v, %v; want %s subscribed=%v", c.id, m, err, c.name, c.subscribed)
		}
	}
	err = db.write(ctx, func(tx *Tx) error {
		if err := tx.DeleteMailbox(9); err != nil {
			return err
		}
		if err := tx.Subscribe(1, "Nowhere"); err != nil {
			return err
		}
		_, err := tx.CreateMailbox(1, "Fresh", "", true, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Subscriptions(ctx, 1)
	if want := []string{"Fresh", "INBOX", "Nowhere", "Work/Old"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("after delete and subscribe: %q, %v; want %q", got, err, want)
	}
	// An account's subscriptions go with it.
	if err := db.write(ctx, func(tx *Tx) error { return tx.DeleteAccount("b@example.org") }); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Subscriptions(ctx, 2); err != nil || len(got) != 0 {
		t.Errorf("deleted account's subscriptions: %q, %v", got, err)
	}
}
