package sqlite

import (
	"context"
	"path/filepath"
	"pillarbox/store"
	"slices"
	"strings"
	"testing"
)

// A version 13 database opens with each mailbox's keywords taken from
// its messages' lists, once each whatever their case, and later writes
// add to them.
func TestMigrationMailboxKeywords(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "k.db")
	raw := rawAtVersion(t, path, 13)
	_, err := raw.Exec(`
		INSERT INTO accounts(id, address, password_hash, created) VALUES (1, 'a@example.org', 'x', 0);
		INSERT INTO mailboxes(id, account_id, name, uidvalidity) VALUES (1, 1, 'INBOX', 1), (2, 1, 'Archive', 2);
		INSERT INTO blobs(id, size, envelope, structure, data) VALUES (1, 1, '{}', '{}', 'x');
		INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size, keywords) VALUES
			(1, 1, 1, 1, 0, 1, 'Project urgent'), (1, 2, 1, 1, 0, 1, 'URGENT'), (1, 3, 1, 1, 0, 1, ''), (2, 1, 1, 1, 0, 1, 'later');`)
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
	keywords := func(mailbox int64) []string {
		t.Helper()
		snap, err := db.snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Close()
		kws, err := snap.Keywords(ctx, mailbox)
		if err != nil {
			t.Fatal(err)
		}
		return kws
	}
	// One spelling of each, whichever the split met first.
	if got := keywords(1); len(got) != 2 || got[0] != "Project" || !strings.EqualFold(got[1], "urgent") {
		t.Fatalf("INBOX keywords %q, want Project and one urgent", got)
	}
	if got := keywords(2); !slices.Equal(got, []string{"later"}) {
		t.Fatalf("Archive keywords %q", got)
	}
	if err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.SetFlags(2, []store.UIDRange{{Start: 1, Stop: 1}}, store.FlagsAdd, 0, []string{"Done", "LATER"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := keywords(2); !slices.Equal(got, []string{"Done", "later"}) {
		t.Fatalf("Archive keywords after a STORE %q, want Done later", got)
	}
}
