package postgres

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pillarbox/store"
)

// msgMessage is a message's row as the checks read it.
type msgMessage struct {
	UID      uint32
	ModSeq   uint64
	Flags    int
	Keywords string
}

// msgMessages reads the messages of a mailbox with MODSEQ above since,
// in UID order (what ChangedSince reports).
func msgMessages(t *testing.T, db *DB, mailbox int64, since uint64) []msgMessage {
	t.Helper()
	rows, err := db.pool.Query(context.Background(), `SELECT uid, modseq, flags, keywords FROM messages
		WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid`, mailbox, int64(since))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []msgMessage
	for rows.Next() {
		var m msgMessage
		if err := rows.Scan(&m.UID, &m.ModSeq, &m.Flags, &m.Keywords); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// msgVanished reads the UIDs expunged from a mailbox with MODSEQ above
// since, in UID order.
func msgVanished(t *testing.T, db *DB, mailbox int64, since uint64) []uint32 {
	t.Helper()
	rows, err := db.pool.Query(context.Background(), `SELECT uid FROM vanished WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid`,
		mailbox, int64(since))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		rows.Scan(&u)
		out = append(out, u)
	}
	return out
}

func msgSetDeleted(tx *Tx, id int64, uids ...uint32) error {
	for _, u := range uids {
		if _, err := tx.SetFlags(id, []store.UIDRange{{Start: u, Stop: u}}, store.FlagsAdd, store.FlagDeleted, nil); err != nil {
			return err
		}
	}
	return nil
}

// SetFlags with each operation returns, in UID order, only the messages
// it changed, with their sequence numbers in the mailbox as it is (gaps
// left by expunges count), their flags and keywords after the change and
// the one new MODSEQ; keywords compare without regard to case.
func TestSetFlags(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	_, mb := msgFixture(t, db, 10)
	msgWrite(t, db, func(tx *Tx) error {
		_, err := tx.RemoveMessages(mb.ID, []uint32{1, 4, 5})
		return err
	})
	// Left: 2 3 6 7 8 9 10, at sequence numbers 1..7.
	set := func(ranges []store.UIDRange, op store.FlagOp, flags int, kws ...string) []store.FlagChange {
		t.Helper()
		var out []store.FlagChange
		msgWrite(t, db, func(tx *Tx) error {
			var err error
			out, err = tx.SetFlags(mb.ID, ranges, op, flags, kws)
			return err
		})
		return out
	}
	type change struct {
		UID, Seq uint32
		Flags    int
		Keywords string
	}
	last := msgHighestModSeq(t, db, mb.ID)
	check := func(step string, got []store.FlagChange, want []change) {
		t.Helper()
		m := msgHighestModSeq(t, db, mb.ID)
		// A change takes the next MODSEQ; no change takes none.
		if next := uint64(min(len(want), 1)); m != last+next {
			t.Errorf("%s: HIGHESTMODSEQ went from %d to %d", step, last, m)
		}
		last = m
		var g []change
		for _, c := range got {
			if c.ModSeq != m {
				t.Errorf("%s: uid %d with modseq %d, want HIGHESTMODSEQ %d", step, c.UID, c.ModSeq, m)
			}
			g = append(g, change{c.UID, c.Seq, c.Flags, fmt.Sprint(c.Keywords)})
		}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("%s: changed %+v, want %+v", step, g, want)
		}
	}
	check("+FLAGS \\Seen on two ranges, out of order and overlapping",
		set([]store.UIDRange{{Start: 8, Stop: 20}, {Start: 1, Stop: 3}, {Start: 2, Stop: 3}}, store.FlagsAdd, store.FlagSeen),
		[]change{{2, 1, 1, "[]"}, {3, 2, 1, "[]"}, {8, 5, 1, "[]"}, {9, 6, 1, "[]"}, {10, 7, 1, "[]"}})
	check("+FLAGS \\Seen again changes none", set([]store.UIDRange{{Start: 2, Stop: 3}}, store.FlagsAdd, store.FlagSeen), nil)
	check("+FLAGS (\\Flagged Work)",
		set([]store.UIDRange{{Start: 3, Stop: 7}}, store.FlagsAdd, store.FlagFlagged, "Work"),
		[]change{{3, 2, 5, "[Work]"}, {6, 3, 4, "[Work]"}, {7, 4, 4, "[Work]"}})
	check("+FLAGS (work Later): work is there already",
		set([]store.UIDRange{{Start: 6, Stop: 7}, {Start: 6, Stop: 6}}, store.FlagsAdd, 0, "work", "Later"),
		[]change{{6, 3, 4, "[Work Later]"}, {7, 4, 4, "[Work Later]"}})
	check("-FLAGS (WORK \\Seen)",
		set([]store.UIDRange{{Start: 1, Stop: 7}}, store.FlagsRemove, store.FlagSeen, "WORK"),
		[]change{{2, 1, 0, "[]"}, {3, 2, 4, "[]"}, {6, 3, 4, "[Later]"}, {7, 4, 4, "[Later]"}})
	check("-FLAGS \\Draft changes none", set([]store.UIDRange{{Start: 1, Stop: 10}}, store.FlagsRemove, store.FlagDraft), nil)
	check("FLAGS (\\Answered x)",
		set([]store.UIDRange{{Start: 9, Stop: 10}, {Start: 7, Stop: 7}}, store.FlagsReplace, store.FlagAnswered, "x"),
		[]change{{7, 4, 2, "[x]"}, {9, 6, 2, "[x]"}, {10, 7, 2, "[x]"}})
	check("FLAGS (\\Answered x) again changes none", set([]store.UIDRange{{Start: 9, Stop: 10}}, store.FlagsReplace, store.FlagAnswered, "x"), nil)
	check("-FLAGS \\Seen",
		set([]store.UIDRange{{Start: 8, Stop: 8}}, store.FlagsRemove, store.FlagSeen),
		[]change{{8, 5, 0, "[]"}})
	if err := db.write(context.Background(), func(tx *Tx) error {
		_, err := tx.SetFlags(1<<40, []store.UIDRange{{Start: 1, Stop: 1}}, store.FlagsAdd, store.FlagSeen, nil)
		return err
	}); err == nil {
		t.Error("SetFlags on a missing mailbox succeeded")
	}
}

// The keywords a mailbox lists are noted once each whatever their case,
// in the spelling first used, by appends, flag changes and copies, but
// not by a removal or a change that changes nothing (SQLite's
// TestMigrationMailboxKeywords, after the migration).
func TestMailboxKeywordsNoted(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	acct, mb := msgFixture(t, db, 2)
	keywords := func(mailbox int64) []string {
		t.Helper()
		rows, err := db.pool.Query(context.Background(), `SELECT keyword FROM mailbox_keywords WHERE mailbox_id = $1 ORDER BY keyword COLLATE "C"`, mailbox)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var k string
			rows.Scan(&k)
			out = append(out, k)
		}
		return out
	}
	msgWrite(t, db, func(tx *Tx) error {
		_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 1, Stop: 1}}, store.FlagsAdd, 0, []string{"Done", "later"})
		return err
	})
	msgWrite(t, db, func(tx *Tx) error {
		if _, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 2, Stop: 2}}, store.FlagsAdd, 0, []string{"LATER", "Next"}); err != nil {
			return err
		}
		_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 1, Stop: 2}}, store.FlagsRemove, 0, []string{"Gone"})
		return err
	})
	msgWrite(t, db, func(tx *Tx) error {
		// Changes nothing: uid 9 is not there.
		_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 9, Stop: 9}}, store.FlagsReplace, 0, []string{"Nothing"})
		return err
	})
	if got, want := keywords(mb.ID), []string{"Done", "Next", "later"}; !slices.Equal(got, want) {
		t.Fatalf("keywords %q, want %q", got, want)
	}
	var other store.Mailbox
	msgWrite(t, db, func(tx *Tx) error {
		var err error
		if other, err = tx.CreateMailbox(acct, "Other", "", false, msgNow); err != nil {
			return err
		}
		_, err = tx.CopyMessages(mb.ID, []store.UIDRange{{Start: 1, Stop: 2}}, other.ID)
		return err
	})
	if got, want := keywords(other.ID), []string{"Done", "later"}; !slices.Equal(got, want) {
		// uid 1 has "Done later", uid 2 "LATER Next": later keeps the
		// spelling of the first copy.
		if want = []string{"Done", "Next", "later"}; !slices.Equal(got, want) {
			t.Fatalf("keywords of the copies' mailbox %q, want %q", got, want)
		}
	}
}

// Each way the store removes messages from a mailbox that stays
// remembers the UIDs it removed with the MODSEQ of the removal, which is
// the mailbox's new HIGHESTMODSEQ and above every MODSEQ before it.
func TestRemovalsRememberUIDs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		remove func(tx *Tx, id int64) ([]store.Removed, error)
		want   []uint32 // removed by the last call
		seqs   []uint32 // their sequence numbers
		gone   []uint32 // vanished in all, if not want
	}{
		{"EXPUNGE", func(tx *Tx, id int64) ([]store.Removed, error) {
			if err := msgSetDeleted(tx, id, 2, 3, 7); err != nil {
				return nil, err
			}
			return tx.ExpungeDeleted(id, nil)
		}, []uint32{2, 3, 7}, []uint32{2, 3, 7}, nil},
		{"UID EXPUNGE", func(tx *Tx, id int64) ([]store.Removed, error) {
			if err := msgSetDeleted(tx, id, 2, 3, 7); err != nil {
				return nil, err
			}
			return tx.ExpungeDeleted(id, []store.UIDRange{{Start: 3, Stop: 8}})
		}, []uint32{3, 7}, []uint32{3, 7}, nil},
		{"MOVE source", func(tx *Tx, id int64) ([]store.Removed, error) {
			m, err := tx.MailboxByID(id)
			if err != nil {
				return nil, err
			}
			other, err := tx.CreateMailbox(m.AccountID, "Other", "", false, msgNow)
			if err != nil {
				return nil, err
			}
			copied, err := tx.CopyMessages(id, []store.UIDRange{{Start: 4, Stop: 6}}, other.ID)
			if err != nil {
				return nil, err
			}
			var src []uint32
			for _, c := range copied {
				src = append(src, c.SrcUID)
			}
			return tx.RemoveMessages(id, src)
		}, []uint32{4, 5, 6}, []uint32{4, 5, 6}, nil},
		{"UIDs gone already are left out", func(tx *Tx, id int64) ([]store.Removed, error) {
			if _, err := tx.RemoveMessages(id, []uint32{1, 3}); err != nil {
				return nil, err
			}
			return tx.RemoveMessages(id, []uint32{1, 2, 3, 5, 99})
		}, []uint32{2, 5}, []uint32{1, 3}, []uint32{1, 2, 3, 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := openTest(t)
			_, mb := msgFixture(t, db, 8)
			before := msgHighestModSeq(t, db, mb.ID)
			var removed []store.Removed
			var last uint64
			msgWrite(t, db, func(tx *Tx) error {
				var err error
				removed, err = tc.remove(tx, mb.ID)
				if err != nil {
					return err
				}
				m, err := tx.MailboxByID(mb.ID)
				last = m.HighestModSeq
				return err
			})
			var uids, seqs []uint32
			for _, r := range removed {
				uids = append(uids, r.UID)
				seqs = append(seqs, r.Seq)
				if r.ModSeq != last {
					t.Errorf("uid %d removed with modseq %d, want the mailbox's new HIGHESTMODSEQ %d", r.UID, r.ModSeq, last)
				}
			}
			if !slices.Equal(uids, tc.want) || !slices.Equal(seqs, tc.seqs) {
				t.Fatalf("removed %v at %v, want %v at %v", uids, seqs, tc.want, tc.seqs)
			}
			for _, c := range msgMessages(t, db, mb.ID, 0) {
				if c.ModSeq >= last {
					t.Errorf("uid %d has modseq %d, not below the removal's %d", c.UID, c.ModSeq, last)
				}
			}
			gone := tc.gone
			if gone == nil {
				gone = tc.want
			}
			if got := msgVanished(t, db, mb.ID, before); !slices.Equal(got, gone) {
				t.Errorf("vanished since %d: %v, want %v", before, got, gone)
			}
			if got := msgVanished(t, db, mb.ID, last); len(got) != 0 {
				t.Errorf("vanished since the removal's own modseq: %v, want none", got)
			}
			msgCheckCounts(t, db, tc.name)
		})
	}
}

// Every change RFC 7162 counts raises HIGHESTMODSEQ and gives the
// messages it changed that MODSEQ: flags, keywords, appends, copies in,
// expunges. MODSEQs keep growing when another node takes over. A STORE
// that changes nothing changes no message.
func TestModSeqStrictlyIncreasing(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	db := openAt(t, d, -1)
	acct, mb := msgFixture(t, db, 4)
	var other store.Mailbox
	msgWrite(t, db, func(tx *Tx) error {
		var err error
		if other, err = tx.CreateMailbox(acct, "Other", "", false, msgNow); err != nil {
			return err
		}
		return msgAppendN(tx, other.ID, 2)
	})
	type step struct {
		name    string
		do      func(tx *Tx) error
		changed []uint32 // messages that must carry the new MODSEQ
	}
	flags := func(lo, hi uint32, op store.FlagOp, f int, kws ...string) func(tx *Tx) error {
		return func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: lo, Stop: hi}}, op, f, kws)
			return err
		}
	}
	remove := func(uid uint32) func(tx *Tx) error {
		return func(tx *Tx) error { _, err := tx.RemoveMessages(mb.ID, []uint32{uid}); return err }
	}
	steps := []step{
		{"add \\Seen", flags(1, 2, store.FlagsAdd, store.FlagSeen), []uint32{1, 2}},
		{"add a keyword", flags(2, 3, store.FlagsAdd, 0, "$Junk"), []uint32{2, 3}},
		{"remove a keyword", flags(3, 3, store.FlagsRemove, 0, "$junk"), []uint32{3}},
		{"replace flags", flags(4, 4, store.FlagsReplace, store.FlagFlagged, "work"), []uint32{4}},
		{"remove \\Seen", flags(1, 1, store.FlagsRemove, store.FlagSeen), []uint32{1}},
		{"append", func(tx *Tx) error { return msgAppendN(tx, mb.ID, 1) }, []uint32{5}},
		{"copy in", func(tx *Tx) error {
			_, err := tx.CopyMessages(other.ID, []store.UIDRange{{Start: 1, Stop: 2}}, mb.ID)
			return err
		}, []uint32{6, 7}},
		{"expunge", remove(6), nil},
	}
	// On a second node, changes on what is left.
	again := []step{
		{"remove \\Seen", flags(2, 2, store.FlagsRemove, store.FlagSeen), []uint32{2}},
		{"add another keyword", flags(3, 5, store.FlagsAdd, 0, "later"), []uint32{3, 4, 5}},
		{"append", func(tx *Tx) error { return msgAppendN(tx, mb.ID, 1) }, []uint32{8}},
		{"expunge", remove(7), nil},
	}
	last := msgHighestModSeq(t, db, mb.ID)
	for round := range 2 {
		if round == 1 {
			db = openAt(t, d, -1)
			steps = again
		}
		for _, st := range steps {
			msgWrite(t, db, st.do)
			now := msgHighestModSeq(t, db, mb.ID)
			if now <= last {
				t.Fatalf("round %d, %s: HIGHESTMODSEQ %d, not above %d", round, st.name, now, last)
			}
			var got []uint32
			for _, c := range msgMessages(t, db, mb.ID, last) {
				if c.ModSeq != now {
					t.Errorf("round %d, %s: uid %d modseq %d, want %d", round, st.name, c.UID, c.ModSeq, now)
				}
				got = append(got, c.UID)
			}
			if !slices.Equal(got, st.changed) {
				t.Errorf("round %d, %s: changed %v, want %v", round, st.name, got, st.changed)
			}
			last = now
		}
	}
	if got := msgVanished(t, db, mb.ID, 0); !slices.Equal(got, []uint32{6, 7}) {
		t.Errorf("vanished across the nodes: %v, want 6 7", got)
	}
	msgWrite(t, db, flags(1, 7, store.FlagsRemove, store.FlagDraft))
	if got := msgMessages(t, db, mb.ID, last); len(got) != 0 {
		t.Errorf("a STORE that changed nothing changed %+v", got)
	}
}

// ModifiedSince lists, in the order of the ranges, the messages changed
// after a MODSEQ.
func TestModifiedSince(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	_, mb := msgFixture(t, db, 6)
	base := msgHighestModSeq(t, db, mb.ID)
	msgWrite(t, db, func(tx *Tx) error {
		_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 2, Stop: 2}, {Start: 5, Stop: 6}}, store.FlagsAdd, store.FlagSeen, nil)
		return err
	})
	var got, all, none []uint32
	msgWrite(t, db, func(tx *Tx) error {
		var err error
		if got, err = tx.ModifiedSince(mb.ID, []store.UIDRange{{Start: 4, Stop: 9}, {Start: 1, Stop: 3}}, base); err != nil {
			return err
		}
		if all, err = tx.ModifiedSince(mb.ID, []store.UIDRange{{Start: 1, Stop: 6}}, 0); err != nil {
			return err
		}
		none, err = tx.ModifiedSince(mb.ID, []store.UIDRange{{Start: 1, Stop: 6}}, ^uint64(0))
		return err
	})
	if !slices.Equal(got, []uint32{5, 6, 2}) || !slices.Equal(all, []uint32{1, 2, 3, 4, 5, 6}) || none != nil {
		t.Fatalf("modified since %d: %v, since 0: %v, since max: %v", base, got, all, none)
	}
}

// CopyMessages gives the copies the next UIDs of the destination, one
// MODSEQ, and the flags, keywords, sizes, dates and blobs of the
// originals, also when the destination is the source.
func TestCopyMessages(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	acct, mb := msgFixture(t, db, 5)
	var other store.Mailbox
	var copied, self []store.Copied
	msgWrite(t, db, func(tx *Tx) error {
		var err error
		if _, err = tx.SetFlags(mb.ID, []store.UIDRange{{Start: 2, Stop: 3}}, store.FlagsAdd, store.FlagFlagged, []string{"Work"}); err != nil {
			return err
		}
		if other, err = tx.CreateMailbox(acct, "Other", "", false, msgNow); err != nil {
			return err
		}
		if err = msgAppendN(tx, other.ID, 2); err != nil {
			return err
		}
		if copied, err = tx.CopyMessages(mb.ID, []store.UIDRange{{Start: 3, Stop: 9}, {Start: 1, Stop: 2}}, other.ID); err != nil {
			return err
		}
		if self, err = tx.CopyMessages(mb.ID, []store.UIDRange{{Start: 5, Stop: 5}}, mb.ID); err != nil {
			return err
		}
		if none, err := tx.CopyMessages(mb.ID, []store.UIDRange{{Start: 50, Stop: 60}}, other.ID); err != nil || none != nil {
			return fmt.Errorf("copy of nothing: %v %v", none, err)
		}
		return nil
	})
	dst, _ := db.MailboxByID(ctx, other.ID)
	var pairs [][2]uint32
	for _, c := range copied {
		pairs = append(pairs, [2]uint32{c.SrcUID, c.DstUID})
		if c.ModSeq != copied[0].ModSeq || c.ModSeq != dst.HighestModSeq {
			t.Errorf("copy %+v: want one MODSEQ, the destination's %d", c, dst.HighestModSeq)
		}
	}
	if want := [][2]uint32{{3, 3}, {4, 4}, {5, 5}, {1, 6}, {2, 7}}; !slices.Equal(pairs, want) {
		t.Fatalf("copies %v, want %v (the order of the ranges)", pairs, want)
	}
	if !slices.Equal(copied[0].Keywords, []string{"Work"}) || len(copied[1].Keywords) != 0 {
		t.Errorf("keywords of the copies: %+v", copied)
	}
	if dst.UIDNext != 8 {
		t.Errorf("UIDNEXT of the destination %d, want 8", dst.UIDNext)
	}
	if len(self) != 1 || self[0].SrcUID != 5 || self[0].DstUID != 6 {
		t.Errorf("copy into the source: %+v", self)
	}
	src, _ := db.Messages(ctx, mb.ID, 1, 0xffffffff, 0)
	cp, _ := db.Messages(ctx, other.ID, 3, 7, 0)
	bySrc := map[uint32]store.Message{}
	for _, m := range src {
		bySrc[m.UID] = m
	}
	for i, m := range cp {
		o := bySrc[copied[i].SrcUID]
		if m.BlobID != o.BlobID || m.Flags != o.Flags || !slices.Equal(m.Keywords, o.Keywords) || m.Size != o.Size || !m.InternalDate.Equal(o.InternalDate) {
			t.Errorf("copy %+v of %+v", m, o)
		}
	}
	if n := msgCount(t, db, `SELECT count(*) FROM messages WHERE saved IS NULL`); n != 0 {
		t.Errorf("%d messages without a save date", n)
	}
	msgCheckCounts(t, db, "after copies")
	if err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.CopyMessages(mb.ID, []store.UIDRange{{Start: 1, Stop: 1}}, 1<<40)
		return err
	}); err == nil {
		t.Error("copy to a missing mailbox succeeded")
	}
}

// Pruning keeps the newest expunges of a mailbox and raises its floor to
// the highest MODSEQ it forgot (SQLite's TestPruneVanishedFloor, reading
// the rows rather than VanishedSince).
func TestPruneVanishedFloor(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	acct, mb := msgFixture(t, db, 20)
	var small store.Mailbox
	msgWrite(t, db, func(tx *Tx) error {
		var err error
		if small, err = tx.CreateMailbox(acct, "Small", "", false, msgNow); err != nil {
			return err
		}
		if err := msgAppendN(tx, small.ID, 3); err != nil {
			return err
		}
		_, err = tx.RemoveMessages(small.ID, []uint32{2})
		return err
	})
	var modseqs []uint64
	for _, uids := range [][]uint32{{1}, {3}, {4}, {6}, {7}, {9}, {10}, {12}, {13}, {15}, {16, 17, 18}, {20}} {
		msgWrite(t, db, func(tx *Tx) error {
			_, err := tx.RemoveMessages(mb.ID, uids)
			return err
		})
		modseqs = append(modseqs, msgHighestModSeq(t, db, mb.ID))
	}
	over, err := db.VanishedOverflow(ctx, 5)
	if err != nil || !slices.Equal(over, []int64{mb.ID}) {
		t.Fatalf("overflow: %v %v, want [%d]", over, err, mb.ID)
	}
	if over, _ := db.VanishedOverflow(ctx, 0); !slices.Equal(over, []int64{mb.ID, small.ID}) {
		t.Fatalf("overflow past 0: %v, want both in id order", over)
	}
	// Keep 5: the newest five rows are 20, 16-18 and 15; the sixth
	// newest is 13, so the rows up to 13's MODSEQ go (nine of them), in
	// batches of 3.
	var batches []int64
	for {
		var n int64
		msgWrite(t, db, func(tx *Tx) error {
			var err error
			n, err = tx.PruneVanished(mb.ID, 5, 3)
			return err
		})
		batches = append(batches, n)
		if n < 3 {
			break
		}
	}
	if !slices.Equal(batches, []int64{3, 3, 3, 0}) {
		t.Errorf("batches %v, want [3 3 3 0]", batches)
	}
	floor := func(id int64) uint64 {
		t.Helper()
		return uint64(msgCount(t, db, `SELECT vanished_floor FROM mailboxes WHERE id = $1`, id))
	}
	if got := floor(mb.ID); got != modseqs[8] {
		t.Errorf("floor %d, want %d (13's expunge)", got, modseqs[8])
	}
	if over, _ := db.VanishedOverflow(ctx, 5); len(over) != 0 {
		t.Errorf("still over after pruning: %v", over)
	}
	if got := msgVanished(t, db, mb.ID, 0); !slices.Equal(got, []uint32{15, 16, 17, 18, 20}) {
		t.Errorf("kept %v, want 15-18 and 20", got)
	}
	if got := msgVanished(t, db, small.ID, 0); !slices.Equal(got, []uint32{2}) || floor(small.ID) != 0 {
		t.Errorf("small mailbox: %v, floor %d", got, floor(small.ID))
	}
	msgWrite(t, db, func(tx *Tx) error {
		n, err := tx.PruneVanished(mb.ID, 5, 3)
		if n != 0 {
			t.Errorf("second prune forgot %d", n)
		}
		return err
	})
	msgWrite(t, db, func(tx *Tx) error {
		_, err := tx.PruneVanished(mb.ID, 0, 100)
		return err
	})
	if got := floor(mb.ID); got != modseqs[len(modseqs)-1] {
		t.Errorf("floor after forgetting all: %d, want %d", got, modseqs[len(modseqs)-1])
	}
	if err := db.write(ctx, func(tx *Tx) error { _, err := tx.PruneVanished(mb.ID, -1, 3); return err }); err == nil {
		t.Error("keep -1 accepted")
	}
}

// Two nodes expunging the same messages at once remove each once: the
// second, waiting for the mailbox's lock, finds them gone.
func TestTwoNodesExpunge(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	_, mb := msgFixture(t, a, 30)
	msgWrite(t, a, func(tx *Tx) error {
		_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 1, Stop: 30}}, store.FlagsAdd, store.FlagDeleted, nil)
		return err
	})
	const n = 8
	results := make(chan []store.Removed, n)
	errs := make(chan error, n)
	for i := range n {
		db := []*DB{a, b}[i%2]
		go func() {
			var removed []store.Removed
			err := db.write(context.Background(), func(tx *Tx) error {
				var err error
				if i%4 == 3 {
					removed, err = tx.RemoveMessages(mb.ID, []uint32{uint32(i), uint32(i + 10), uint32(i + 20)})
				} else {
					removed, err = tx.ExpungeDeleted(mb.ID, []store.UIDRange{{Start: uint32(i*3 + 1), Stop: 30}})
				}
				return err
			})
			results <- removed
			errs <- err
		}()
	}
	seen := map[uint32]int{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		for _, r := range <-results {
			seen[r.UID]++
		}
	}
	for u := uint32(1); u <= 30; u++ {
		if seen[u] > 1 {
			t.Errorf("uid %d removed %d times", u, seen[u])
		}
	}
	left := msgCount(t, a, `SELECT count(*) FROM messages WHERE mailbox_id = $1`, mb.ID)
	if int(left)+len(seen) != 30 {
		t.Errorf("%d left and %d removed of 30", left, len(seen))
	}
	if got := msgCount(t, a, `SELECT count(*) FROM vanished WHERE mailbox_id = $1`, mb.ID); int(got) != len(seen) {
		t.Errorf("%d vanished rows for %d removals", got, len(seen))
	}
	msgCheckCounts(t, a, "after the expunges")
}
