package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"pillarbox/store"
	"testing"
)

// The folder totals kept by the triggers (migration 20: one update, only
// when \Seen, \Deleted, the size or the folder change) always equal a
// count of the messages, through random flag changes by every STORE
// operation, size changes and moves between folders.
func TestMailboxCountsFollowChanges(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := context.Background()
	now := testNow
	var boxes [2]int64
	err := db.write(ctx, func(tx *Tx) error {
		acct, err := tx.CreateAccount("a@x.org", "h", now)
		if err != nil {
			return err
		}
		for i, name := range []string{"INBOX", "Archive"} {
			m, err := tx.CreateMailbox(acct, name, "", false, now)
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
			if _, err := tx.AppendMessage(store.NewMessage{MailboxID: boxes[i%2], BlobID: blob, InternalDate: now,
				Size: int64(100 + i), Flags: i % 16}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		rows, err := db.rdb.QueryContext(ctx, `SELECT c.mailbox_id, c.messages, c.unseen, c.deleted, c.size, c.deleted_size,
			(SELECT count(*) FROM messages m WHERE m.mailbox_id = c.mailbox_id),
			(SELECT count(*) FROM messages m WHERE m.mailbox_id = c.mailbox_id AND m.flags & 1 = 0),
			(SELECT count(*) FROM messages m WHERE m.mailbox_id = c.mailbox_id AND m.flags & 8 != 0),
			(SELECT coalesce(sum(size), 0) FROM messages m WHERE m.mailbox_id = c.mailbox_id),
			(SELECT coalesce(sum(size), 0) FROM messages m WHERE m.mailbox_id = c.mailbox_id AND m.flags & 8 != 0)
			FROM mailbox_counts c`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
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
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	check("after delivery")
	r := rand.New(rand.NewPCG(1, 2))
	ops := []store.FlagOp{store.FlagsAdd, store.FlagsRemove, store.FlagsReplace}
	for step := range 200 {
		err := db.write(ctx, func(tx *Tx) error {
			box := boxes[r.IntN(2)]
			lo := uint32(1 + r.IntN(20))
			switch r.IntN(5) {
			case 0: // a size change (no statement makes one today)
				_, err := tx.exec(`UPDATE messages SET size = size + 7 WHERE mailbox_id = ? AND uid = ?`, box, lo)
				return err
			case 1: // a move by update, flags and all
				_, err := tx.exec(`UPDATE messages SET mailbox_id = ?, uid = uid + 1000 * ?, flags = (flags | 9) - (flags & 9)
					WHERE mailbox_id = ? AND uid = ?`, boxes[0]+boxes[1]-box, step+1, box, lo)
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
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("after change %d", step))
	}
}
