package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"pillarbox/store"
)

var msgNow = time.Unix(1_700_000_000, 0)

// msgWrite runs fn in a write of db, failing t on error.
func msgWrite(t *testing.T, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.write(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// msgAccount adds an account by SQL (the account methods are not this
// file's subject).
func msgAccount(t *testing.T, db *DB, addr string) int64 {
	t.Helper()
	return id(t, db.pool, `INSERT INTO accounts(address, password_hash, created) VALUES ($1, 'h', 0) RETURNING id`, addr)
}

// msgAppendN appends n small messages to a mailbox.
func msgAppendN(tx *Tx, mailboxID int64, n int) error {
	for i := range n {
		bid, err := tx.InsertBlob(&store.Blob{Data: fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i), Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		if _, err := tx.AppendMessage(store.NewMessage{MailboxID: mailboxID, BlobID: bid, InternalDate: msgNow, Size: 20}); err != nil {
			return err
		}
	}
	return nil
}

// msgFixture makes an account a@x.org with a mailbox "Box" holding n
// messages (UIDs 1..n).
func msgFixture(t *testing.T, db *DB, n int) (int64, store.Mailbox) {
	t.Helper()
	acct := msgAccount(t, db, "a@x.org")
	var mb store.Mailbox
	msgWrite(t, db, func(tx *Tx) error {
		var err error
		if mb, err = tx.CreateMailbox(acct, "Box", "", false, msgNow); err != nil {
			return err
		}
		return msgAppendN(tx, mb.ID, n)
	})
	return acct, mb
}

func msgHighestModSeq(t *testing.T, db *DB, id int64) uint64 {
	t.Helper()
	m, err := db.MailboxByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m.HighestModSeq
}

func msgCount(t *testing.T, db *DB, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// Mailboxes are created, found, listed in byte order of their names (as
// SQLite's BINARY collation lists them), renamed and deleted, with the
// SQLite store's errors.
func TestMailboxLifeCycle(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	acct := msgAccount(t, db, "a@x.org")
	other := msgAccount(t, db, "b@x.org")
	exec(t, db.pool, `INSERT INTO subscriptions(account_id, name) VALUES ($1, 'a')`, acct)
	var made []store.Mailbox
	msgWrite(t, db, func(tx *Tx) error {
		for _, name := range []string{"INBOX", "a", "B", "Archive"} {
			m, err := tx.CreateMailbox(acct, name, map[string]string{"Archive": `\Archive`}[name], name == "INBOX", msgNow)
			if err != nil {
				return err
			}
			made = append(made, m)
		}
		_, err := tx.CreateMailbox(other, "INBOX", "", true, msgNow)
		return err
	})
	in := made[0]
	if in.Name != "INBOX" || in.AccountID != acct || in.UIDNext != 1 || in.HighestModSeq != 1 || !in.Subscribed || in.UIDValidity == 0 {
		t.Fatalf("INBOX as created: %+v", in)
	}
	if !made[1].Subscribed || made[2].Subscribed || made[3].SpecialUse != `\Archive` {
		t.Fatalf("a keeps its subscription, B has none, Archive is \\Archive: %+v", made[1:])
	}
	list, err := db.Mailboxes(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list {
		names = append(names, m.Name)
	}
	if want := []string{"Archive", "B", "INBOX", "a"}; !slices.Equal(names, want) {
		t.Fatalf("mailboxes %q, want %q (byte order)", names, want)
	}
	if got, err := db.MailboxByName(ctx, acct, "INBOX"); err != nil || got != in {
		t.Fatalf("by name: %+v %v, want %+v", got, err, in)
	}
	if got, err := db.MailboxByID(ctx, in.ID); err != nil || got != in {
		t.Fatalf("by id: %+v %v", got, err)
	}
	if _, err := db.MailboxByName(ctx, acct, "inbox"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("names are case-sensitive: %v", err)
	}
	if _, err := db.MailboxByID(ctx, 1<<40); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing id: %v", err)
	}
	if c, err := db.MailboxCounts(ctx, in.ID); err != nil || c != (store.MailboxCounts{}) {
		t.Fatalf("counts of a new mailbox: %+v %v", c, err)
	}
	if _, err := db.MailboxCounts(ctx, 1<<40); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("counts of a missing mailbox: %v", err)
	}

	write := func(fn func(tx *Tx) error) error { return db.write(ctx, fn) }
	if err := write(func(tx *Tx) error {
		_, err := tx.CreateMailbox(acct, "B", "", false, msgNow)
		return err
	}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second B: %v, want ErrExists", err)
	}
	if err := write(func(tx *Tx) error { return tx.RenameMailbox(made[2].ID, "a") }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("rename onto a: %v, want ErrExists", err)
	}
	if err := write(func(tx *Tx) error { return tx.RenameMailbox(1<<40, "x") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rename of a missing mailbox: %v", err)
	}
	if err := write(func(tx *Tx) error { return tx.DeleteMailbox(1 << 40) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete of a missing mailbox: %v", err)
	}
	msgWrite(t, db, func(tx *Tx) error {
		if err := tx.RenameMailbox(made[2].ID, "C"); err != nil {
			return err
		}
		m, err := tx.MailboxByName(acct, "C")
		if err != nil || m.ID != made[2].ID {
			return fmt.Errorf("renamed mailbox in the transaction: %+v %v", m, err)
		}
		if _, err := tx.MailboxByName(acct, "B"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("old name still found: %v", err)
		}
		if err := tx.DeleteMailbox(made[1].ID); err != nil {
			return err
		}
		if _, err := tx.MailboxByID(made[1].ID); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("deleted mailbox still found: %v", err)
		}
		list, err := tx.MailboxesOf(acct)
		if err != nil {
			return err
		}
		var names []string
		for _, m := range list {
			names = append(names, m.Name)
		}
		if want := []string{"Archive", "C", "INBOX"}; !slices.Equal(names, want) {
			return fmt.Errorf("mailboxes in the transaction %q, want %q", names, want)
		}
		return nil
	})
	// The subscription of a stays with its name.
	if n := msgCount(t, db, `SELECT count(*) FROM subscriptions WHERE account_id = $1 AND name = 'a'`, acct); n != 1 {
		t.Fatalf("subscription of a deleted mailbox: %d rows", n)
	}
}

func TestUIDValidityNeverReused(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct := msgAccount(t, db, "a@x.org")
	seen := map[uint32]bool{}
	for range 3 {
		var mb store.Mailbox
		msgWrite(t, db, func(tx *Tx) error {
			var err error
			mb, err = tx.CreateMailbox(acct, "Folder", "", false, msgNow)
			return err
		})
		if seen[mb.UIDValidity] {
			t.Fatalf("UIDVALIDITY %d reused", mb.UIDValidity)
		}
		seen[mb.UIDValidity] = true
		msgWrite(t, db, func(tx *Tx) error { return tx.DeleteMailbox(mb.ID) })
	}
}

// Two nodes creating mailboxes at once never hand out one UIDVALIDITY
// twice.
func TestUIDValidityTwoNodes(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	acct := msgAccount(t, a, "a@x.org")
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		db := []*DB{a, b}[i%2]
		go func() {
			errs <- db.write(context.Background(), func(tx *Tx) error {
				_, err := tx.CreateMailbox(acct, fmt.Sprintf("F%d", i), "", false, msgNow)
				return err
			})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := msgCount(t, a, `SELECT count(DISTINCT uidvalidity) FROM mailboxes WHERE account_id = $1`, acct); got != n {
		t.Fatalf("%d distinct UIDVALIDITY values for %d mailboxes", got, n)
	}
}

// A mailbox deleted and created again under the same name gets a new id
// and UIDVALIDITY, and none of the old one's expunges; deleting the
// account takes its mailboxes' expunges along.
func TestRecreatedMailboxForgetsExpunges(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct, mb := msgFixture(t, db, 3)
	msgWrite(t, db, func(tx *Tx) error {
		_, err := tx.RemoveMessages(mb.ID, []uint32{1, 2})
		return err
	})
	var again store.Mailbox
	msgWrite(t, db, func(tx *Tx) error {
		if err := tx.DeleteMailbox(mb.ID); err != nil {
			return err
		}
		var err error
		again, err = tx.CreateMailbox(acct, "Box", "", false, msgNow)
		return err
	})
	if again.UIDValidity == mb.UIDValidity || again.ID == mb.ID {
		t.Fatalf("recreated mailbox: id %d uidvalidity %d, the old one's were %d and %d", again.ID, again.UIDValidity, mb.ID, mb.UIDValidity)
	}
	if n := msgCount(t, db, `SELECT count(*) FROM vanished`); n != 0 {
		t.Errorf("%d expunges kept after their mailbox went", n)
	}
	if n := msgCount(t, db, `SELECT count(*) FROM blobs`); n != 0 {
		t.Errorf("%d blobs kept after their mailbox went", n)
	}
	msgWrite(t, db, func(tx *Tx) error {
		if err := msgAppendN(tx, again.ID, 2); err != nil {
			return err
		}
		_, err := tx.RemoveMessages(again.ID, []uint32{1})
		return err
	})
	exec(t, db.pool, `DELETE FROM accounts WHERE id = $1`, acct)
	if n := msgCount(t, db, `SELECT count(*) FROM vanished`); n != 0 {
		t.Errorf("%d expunges kept after their account went", n)
	}
}

// The folder totals kept by the triggers always equal a count of the
// messages, through random flag changes by every STORE operation, size
// changes and moves between folders (SQLite's test of the same name).
func TestMailboxCountsFollowChanges(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct := msgAccount(t, db, "a@x.org")
	var boxes [2]int64
	msgWrite(t, db, func(tx *Tx) error {
		for i, name := range []string{"INBOX", "Archive"} {
			m, err := tx.CreateMailbox(acct, name, "", false, msgNow)
			if err != nil {
				return err
			}
			boxes[i] = m.ID
		}
		blob, err := tx.InsertBlob(&store.Blob{Data: []byte("Subject: x\r\n\r\nbody\r\n"), Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		for i := range 40 {
			if _, err := tx.AppendMessage(store.NewMessage{MailboxID: boxes[i%2], BlobID: blob, InternalDate: msgNow,
				Size: int64(100 + i), Flags: i % 16}); err != nil {
				return err
			}
		}
		return nil
	})
	check := func(step string) {
		t.Helper()
		msgCheckCounts(t, db, step)
	}
	check("after delivery")
	r := rand.New(rand.NewPCG(1, 2))
	ops := []store.FlagOp{store.FlagsAdd, store.FlagsRemove, store.FlagsReplace}
	for step := range 200 {
		msgWrite(t, db, func(tx *Tx) error {
			box := boxes[r.IntN(2)]
			lo := uint32(1 + r.IntN(20))
			switch r.IntN(5) {
			case 0: // a size change (no statement makes one today)
				_, err := tx.exec(`UPDATE messages SET size = size + 7 WHERE mailbox_id = $1 AND uid = $2`, box, lo)
				return err
			case 1: // a move by update, flags and all
				_, err := tx.exec(`UPDATE messages SET mailbox_id = $1, uid = uid + 1000 * $2, flags = (flags | 9) - (flags & 9)
					WHERE mailbox_id = $3 AND uid = $4`, boxes[0]+boxes[1]-box, step+1, box, lo)
				return err
			default:
				kws := []string(nil)
				if r.IntN(3) == 0 {
					kws = []string{"$Label1"}
				}
				_, err := tx.SetFlags(box, []store.UIDRange{{Start: lo, Stop: lo + uint32(r.IntN(10))}}, ops[r.IntN(3)], r.IntN(32), kws)
				return err
			}
		})
		check(fmt.Sprintf("after change %d", step))
	}
}

// msgCheckCounts fails t unless every mailbox's kept totals equal a count
// of its messages, and MailboxCounts reads them.
func msgCheckCounts(t *testing.T, db *DB, step string) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.pool.Query(ctx, `SELECT c.mailbox_id, c.messages, c.unseen, c.deleted, c.size, c.deleted_size,
		(SELECT count(*) FROM messages m WHERE m.mailbox_id = c.mailbox_id),
		(SELECT count(*) FROM messages m WHERE m.mailbox_id = c.mailbox_id AND m.flags & 1 = 0),
		(SELECT count(*) FROM messages m WHERE m.mailbox_id = c.mailbox_id AND m.flags & 8 <> 0),
		(SELECT coalesce(sum(size), 0) FROM messages m WHERE m.mailbox_id = c.mailbox_id),
		(SELECT coalesce(sum(size), 0) FROM messages m WHERE m.mailbox_id = c.mailbox_id AND m.flags & 8 <> 0)
		FROM mailbox_counts c`)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		id   int64
		kept [5]int64
	}
	var all []result
	for rows.Next() {
		var id int64
		var kept, counted [5]int64
		if err := rows.Scan(&id, &kept[0], &kept[1], &kept[2], &kept[3], &kept[4],
			&counted[0], &counted[1], &counted[2], &counted[3], &counted[4]); err != nil {
			t.Fatal(err)
		}
		if kept != counted {
			t.Fatalf("%s: mailbox %d keeps (messages unseen deleted size deleted_size) %v, its messages give %v", step, id, kept, counted)
		}
		all = append(all, result{id, kept})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		c, err := db.MailboxCounts(ctx, r.id)
		if err != nil {
			t.Fatal(err)
		}
		if got := [5]int64{int64(c.Messages), int64(c.Unseen), int64(c.Deleted), c.Size, c.DeletedSize}; got != r.kept {
			t.Fatalf("%s: MailboxCounts(%d) = %v, the row holds %v", step, r.id, got, r.kept)
		}
	}
}

// A name already taken is ErrExists without aborting the transaction,
// which goes on and commits, as with SQLite.
func TestCreateMailboxTakenKeepsTransaction(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	acct := id(t, db.pool, `INSERT INTO accounts(address, password_hash, created) VALUES ('a@example.org', 'x', 1) RETURNING id`)
	now := time.Unix(1_800_000_000, 0)
	err := db.write(ctx, func(tx *Tx) error {
		if _, err := tx.CreateMailbox(acct, "Work", "", false, now); err != nil {
			return err
		}
		if _, err := tx.CreateMailbox(acct, "Work", "", false, now); !errors.Is(err, store.ErrExists) {
			t.Errorf("second create: %v, want ErrExists", err)
		}
		_, err := tx.CreateMailbox(acct, "Work/2026", "", false, now)
		return err
	})
	if err != nil {
		t.Fatalf("write after a taken name: %v", err)
	}
	if _, err := db.MailboxByName(ctx, acct, "Work/2026"); err != nil {
		t.Errorf("the folder made after the taken name: %v", err)
	}
}
