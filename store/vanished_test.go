package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// resyncFixture makes an account with a mailbox "Box" holding n messages
// (UIDs 1..n) and returns the account and the mailbox.
func resyncFixture(t *testing.T, db *DB, n int) (int64, Mailbox) {
	t.Helper()
	var acct int64
	var mb Mailbox
	err := db.Write(context.Background(), func(tx *Tx) error {
		var err error
		if acct, err = tx.CreateAccount("a@x.org", "h", testNow); err != nil {
			return err
		}
		if mb, err = tx.CreateMailbox(acct, "Box", "", false, testNow); err != nil {
			return err
		}
		return appendN(tx, mb.ID, n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return acct, mb
}

// appendN appends n small messages to a mailbox.
func appendN(tx *Tx, mailboxID int64, n int) error {
	for i := range n {
		bid, err := tx.InsertBlob(&Blob{Data: fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i), Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		if _, _, err := tx.AppendMessage(NewMessage{MailboxID: mailboxID, BlobID: bid, InternalDate: testNow, Size: 20}); err != nil {
			return err
		}
	}
	return nil
}

func write(t *testing.T, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.Write(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func highestModSeq(t *testing.T, db *DB, id int64) uint64 {
	t.Helper()
	m, err := db.MailboxByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m.HighestModSeq
}

// vanishedSince reads VanishedSince in a snapshot of its own.
func vanishedSince(t *testing.T, db *DB, id int64, modseq uint64) ([]UIDRange, bool) {
	t.Helper()
	ctx := context.Background()
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	got, exceeded, err := snap.VanishedSince(ctx, id, modseq)
	if err != nil {
		t.Fatal(err)
	}
	return got, exceeded
}

func changedSince(t *testing.T, db *DB, id int64, modseq uint64, lo, hi uint32) []Changed {
	t.Helper()
	ctx := context.Background()
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var out []Changed
	if err := snap.ChangedSince(ctx, id, modseq, lo, hi, func(c Changed) error { out = append(out, c); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// uidsOf expands ranges into UIDs.
func uidsOf(rs []UIDRange) []uint32 {
	var out []uint32
	for _, r := range rs {
		for u := r.Start; ; u++ {
			out = append(out, u)
			if u == r.Stop {
				break
			}
		}
	}
	return out
}

func setDeleted(tx *Tx, id int64, uids ...uint32) error {
	for _, u := range uids {
		if _, err := tx.SetFlags(id, []UIDRange{{u, u}}, FlagsAdd, FlagDeleted, nil); err != nil {
			return err
		}
	}
	return nil
}

// Each way the store removes messages from a mailbox that stays
// remembers the UIDs it removed with the MODSEQ of the removal, which is
// the mailbox's new HIGHESTMODSEQ and above every MODSEQ before it.
func TestRemovalsRememberUIDs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		remove func(tx *Tx, id int64) ([]Removed, error)
		want   []uint32
	}{
		{"EXPUNGE", func(tx *Tx, id int64) ([]Removed, error) {
			if err := setDeleted(tx, id, 2, 3, 7); err != nil {
				return nil, err
			}
			return tx.ExpungeDeleted(id, nil)
		}, []uint32{2, 3, 7}},
		{"UID EXPUNGE", func(tx *Tx, id int64) ([]Removed, error) {
			if err := setDeleted(tx, id, 2, 3, 7); err != nil {
				return nil, err
			}
			return tx.ExpungeDeleted(id, []UIDRange{{3, 8}})
		}, []uint32{3, 7}},
		{"MOVE source", func(tx *Tx, id int64) ([]Removed, error) {
			m, err := tx.MailboxByID(id)
			if err != nil {
				return nil, err
			}
			other, err := tx.CreateMailbox(m.AccountID, "Other", "", false, testNow)
			if err != nil {
				return nil, err
			}
			copied, err := tx.CopyMessages(id, []UIDRange{{4, 6}}, other.ID)
			if err != nil {
				return nil, err
			}
			var src []uint32
			for _, c := range copied {
				src = append(src, c.SrcUID)
			}
			return tx.RemoveMessages(id, src)
		}, []uint32{4, 5, 6}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := openTest(t, Options{})
			_, mb := resyncFixture(t, db, 8)
			before := highestModSeq(t, db, mb.ID)
			var removed []Removed
			var last uint64
			write(t, db, func(tx *Tx) error {
				var err error
				removed, err = tx.remove(tc.remove, mb.ID)
				if err != nil {
					return err
				}
				m, err := tx.MailboxByID(mb.ID)
				last = m.HighestModSeq
				return err
			})
			var uids []uint32
			for _, r := range removed {
				uids = append(uids, r.UID)
				if r.ModSeq != last {
					t.Errorf("uid %d removed with modseq %d, want the mailbox's new HIGHESTMODSEQ %d", r.UID, r.ModSeq, last)
				}
			}
			if !slices.Equal(uids, tc.want) {
				t.Fatalf("removed %v, want %v", uids, tc.want)
			}
			// Every message left has a MODSEQ below the removal's.
			for _, c := range changedSince(t, db, mb.ID, 0, 1, 0xffffffff) {
				if c.ModSeq >= last {
					t.Errorf("uid %d has modseq %d, not below the removal's %d", c.UID, c.ModSeq, last)
				}
			}
			got, exceeded := vanishedSince(t, db, mb.ID, before)
			if exceeded || !slices.Equal(uidsOf(got), tc.want) {
				t.Errorf("vanished since %d: %v (floor exceeded %v), want %v", before, got, exceeded, tc.want)
			}
			if got, _ := vanishedSince(t, db, mb.ID, last); len(got) != 0 {
				t.Errorf("vanished since the removal's own modseq: %v, want none", got)
			}
			if got, _ := vanishedSince(t, db, mb.ID, last-1); !slices.Equal(uidsOf(got), tc.want) {
				t.Errorf("vanished since %d: %v, want %v", last-1, got, tc.want)
			}
		})
	}
}

// remove runs f: a method value cannot be a field of the table above.
func (tx *Tx) remove(f func(*Tx, int64) ([]Removed, error), id int64) ([]Removed, error) {
	return f(tx, id)
}

// Every change RFC 7162 counts raises HIGHESTMODSEQ and gives the
// messages it changed that MODSEQ: flags, keywords, appends, copies in,
// expunges. MODSEQs keep growing after the database is closed and
// opened again. A STORE that changes nothing changes no message.
func TestModSeqStrictlyIncreasing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	acct, mb := resyncFixture(t, db, 4)
	var other Mailbox
	write(t, db, func(tx *Tx) error {
		var err error
		other, err = tx.CreateMailbox(acct, "Other", "", false, testNow)
		if err != nil {
			return err
		}
		return appendN(tx, other.ID, 2)
	})
	steps := []struct {
		name    string
		do      func(tx *Tx) error
		changed []uint32 // messages that must carry the new MODSEQ
	}{
		{"add \\Seen", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []UIDRange{{1, 2}}, FlagsAdd, FlagSeen, nil)
			return err
		}, []uint32{1, 2}},
		{"add a keyword", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []UIDRange{{2, 3}}, FlagsAdd, 0, []string{"$Junk"})
			return err
		}, []uint32{2, 3}},
		{"remove a keyword", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []UIDRange{{3, 3}}, FlagsRemove, 0, []string{"$junk"})
			return err
		}, []uint32{3}},
		{"replace flags", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []UIDRange{{4, 4}}, FlagsReplace, FlagFlagged, []string{"work"})
			return err
		}, []uint32{4}},
		{"remove \\Seen", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []UIDRange{{1, 1}}, FlagsRemove, FlagSeen, nil)
			return err
		}, []uint32{1}},
		{"append", func(tx *Tx) error { return appendN(tx, mb.ID, 1) }, []uint32{5}},
		{"copy in", func(tx *Tx) error {
			_, err := tx.CopyMessages(other.ID, []UIDRange{{1, 2}}, mb.ID)
			return err
		}, []uint32{6, 7}},
		{"expunge", func(tx *Tx) error {
			_, err := tx.RemoveMessages(mb.ID, []uint32{6})
			return err
		}, nil},
	}
	// After a restart, changes on what is left.
	again := []struct {
		name    string
		do      func(tx *Tx) error
		changed []uint32
	}{
		{"remove \\Seen", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []UIDRange{{2, 2}}, FlagsRemove, FlagSeen, nil)
			return err
		}, []uint32{2}},
		{"add another keyword", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []UIDRange{{3, 5}}, FlagsAdd, 0, []string{"later"})
			return err
		}, []uint32{3, 4, 5}},
		{"append", func(tx *Tx) error { return appendN(tx, mb.ID, 1) }, []uint32{8}},
		{"expunge", func(tx *Tx) error {
			_, err := tx.RemoveMessages(mb.ID, []uint32{7})
			return err
		}, nil},
	}
	last := highestModSeq(t, db, mb.ID)
	for round := range 2 {
		if round == 1 {
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if db, err = Open(path, Options{}); err != nil {
				t.Fatal(err)
			}
			steps = again
		}
		for _, st := range steps {
			write(t, db, st.do)
			now := highestModSeq(t, db, mb.ID)
			if now <= last {
				t.Fatalf("round %d, %s: HIGHESTMODSEQ %d, not above %d", round, st.name, now, last)
			}
			var got []uint32
			for _, c := range changedSince(t, db, mb.ID, last, 1, 0xffffffff) {
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
	if got, _ := vanishedSince(t, db, mb.ID, 0); !reflect.DeepEqual(got, []UIDRange{{6, 7}}) {
		t.Errorf("vanished across the restart: %v, want 6:7", got)
	}
	// A STORE that changes no message leaves every message's MODSEQ
	// alone (it may use up a MODSEQ: harmless, they only grow).
	write(t, db, func(tx *Tx) error {
		_, err := tx.SetFlags(mb.ID, []UIDRange{{1, 7}}, FlagsRemove, FlagDraft, nil)
		return err
	})
	if got := changedSince(t, db, mb.ID, last, 1, 0xffffffff); len(got) != 0 {
		t.Errorf("a STORE that changed nothing changed %+v", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A mailbox deleted and created again under the same name gets a new
// UIDVALIDITY, and none of the old one's expunges.
func TestRecreatedMailboxForgetsExpunges(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	acct, mb := resyncFixture(t, db, 3)
	write(t, db, func(tx *Tx) error {
		_, err := tx.RemoveMessages(mb.ID, []uint32{1, 2})
		return err
	})
	var again Mailbox
	write(t, db, func(tx *Tx) error {
		if err := tx.DeleteMailbox(mb.ID); err != nil {
			return err
		}
		var err error
		again, err = tx.CreateMailbox(acct, "Box", "", false, testNow)
		return err
	})
	if again.UIDValidity == mb.UIDValidity || again.ID == mb.ID {
		t.Fatalf("recreated mailbox: id %d uidvalidity %d, the old one's were %d and %d", again.ID, again.UIDValidity, mb.ID, mb.UIDValidity)
	}
	var n int
	if err := db.rdb.QueryRow(`SELECT count(*) FROM vanished`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d expunges kept after their mailbox went (%v)", n, err)
	}
	if got, exceeded := vanishedSince(t, db, again.ID, 0); len(got) != 0 || exceeded {
		t.Errorf("new mailbox: vanished %v, floor exceeded %v", got, exceeded)
	}
	// Deleting the account takes its mailboxes' expunges along.
	write(t, db, func(tx *Tx) error {
		if err := appendN(tx, again.ID, 2); err != nil {
			return err
		}
		_, err := tx.RemoveMessages(again.ID, []uint32{1})
		return err
	})
	write(t, db, func(tx *Tx) error { return tx.DeleteAccount("a@x.org") })
	if err := db.rdb.QueryRow(`SELECT count(*) FROM vanished`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d expunges kept after their account went (%v)", n, err)
	}
}

func TestVanishedSinceRanges(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	_, mb := resyncFixture(t, db, 12)
	start := highestModSeq(t, db, mb.ID)
	var marks []uint64
	for _, uids := range [][]uint32{{2, 3, 4}, {9}, {5, 11, 12}} {
		write(t, db, func(tx *Tx) error {
			_, err := tx.RemoveMessages(mb.ID, uids)
			return err
		})
		marks = append(marks, highestModSeq(t, db, mb.ID))
	}
	for _, tc := range []struct {
		since uint64
		want  []UIDRange
	}{
		{start, []UIDRange{{2, 5}, {9, 9}, {11, 12}}},
		{marks[0], []UIDRange{{5, 5}, {9, 9}, {11, 12}}},
		{marks[1], []UIDRange{{5, 5}, {11, 12}}},
		{marks[2], nil},
		{marks[2] + 100, nil},
	} {
		got, exceeded := vanishedSince(t, db, mb.ID, tc.since)
		if exceeded || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("since %d: %v (floor exceeded %v), want %v", tc.since, got, exceeded, tc.want)
		}
	}
	snap, err := db.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if _, _, err := snap.VanishedSince(context.Background(), mb.ID+100, 0); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown mailbox: %v", err)
	}
}

func TestChangedSince(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	_, mb := resyncFixture(t, db, 10)
	start := highestModSeq(t, db, mb.ID)
	write(t, db, func(tx *Tx) error {
		_, err := tx.SetFlags(mb.ID, []UIDRange{{8, 9}}, FlagsAdd, FlagSeen|FlagAnswered, []string{"Work", "$Label1"})
		return err
	})
	mid := highestModSeq(t, db, mb.ID)
	write(t, db, func(tx *Tx) error {
		_, err := tx.SetFlags(mb.ID, []UIDRange{{2, 2}}, FlagsAdd, FlagFlagged, nil)
		return err
	})
	end := highestModSeq(t, db, mb.ID)
	kw := []string{"Work", "$Label1"}
	all := []Changed{{2, end, FlagFlagged, nil}, {8, mid, FlagSeen | FlagAnswered, kw}, {9, mid, FlagSeen | FlagAnswered, kw}}
	for _, tc := range []struct {
		since  uint64
		lo, hi uint32
		want   []Changed
	}{
		{start, 1, 0xffffffff, all},
		{mid, 1, 0xffffffff, all[:1]},
		{start, 3, 8, all[1:2]},
		{end, 1, 0xffffffff, nil},
		{start, 9, 2, nil},
	} {
		got := changedSince(t, db, mb.ID, tc.since, tc.lo, tc.hi)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("since %d in %d:%d: %+v, want %+v", tc.since, tc.lo, tc.hi, got, tc.want)
		}
	}
	// Since 0, every message, in UID order.
	got := changedSince(t, db, mb.ID, 0, 1, 0xffffffff)
	if len(got) != 10 || !slices.IsSortedFunc(got, func(a, b Changed) int { return int(a.UID) - int(b.UID) }) {
		t.Errorf("since 0: %+v", got)
	}
	// fn's error stops the walk and comes back as is.
	snap, _ := db.Snapshot(context.Background())
	defer snap.Close()
	stop := fmt.Errorf("enough")
	n := 0
	err := snap.ChangedSince(context.Background(), mb.ID, 0, 1, 0xffffffff, func(Changed) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("stopping: %v after %d rows", err, n)
	}
}

// Pruning keeps the newest expunges of a mailbox and raises its floor to
// the highest MODSEQ it forgot: below the floor, VanishedSince says so
// and answers with every UID that is gone, which includes all the client
// missed; at or above it, the answer stays exact.
func TestPruneVanishedFloor(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	acct, mb := resyncFixture(t, db, 20)
	var small Mailbox
	write(t, db, func(tx *Tx) error {
		var err error
		if small, err = tx.CreateMailbox(acct, "Small", "", false, testNow); err != nil {
			return err
		}
		if err := appendN(tx, small.ID, 3); err != nil {
			return err
		}
		_, err = tx.RemoveMessages(small.ID, []uint32{2})
		return err
	})
	start := highestModSeq(t, db, mb.ID)
	// Ten expunges, one UID each, then one of three UIDs (one MODSEQ),
	// then the last message, so UIDNEXT-1 is gone too.
	var modseqs []uint64
	for _, uids := range [][]uint32{{1}, {3}, {4}, {6}, {7}, {9}, {10}, {12}, {13}, {15}, {16, 17, 18}, {20}} {
		write(t, db, func(tx *Tx) error {
			_, err := tx.RemoveMessages(mb.ID, uids)
			return err
		})
		modseqs = append(modseqs, highestModSeq(t, db, mb.ID))
	}
	ctx := context.Background()
	over, err := db.VanishedOverflow(ctx, 5)
	if err != nil || !slices.Equal(over, []int64{mb.ID}) {
		t.Fatalf("overflow: %v %v, want [%d]", over, err, mb.ID)
	}
	// Keep 5: the newest five rows are 20, 16-18 and 15; the sixth
	// newest is 13, so the rows up to 13's MODSEQ go (nine of them), in
	// batches of 3.
	var batches []int64
	for {
		var n int64
		write(t, db, func(tx *Tx) error {
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
	floor := modseqs[8] // 13's expunge
	var gotFloor uint64
	db.rdb.QueryRow(`SELECT vanished_floor FROM mailboxes WHERE id = ?`, mb.ID).Scan(&gotFloor)
	if gotFloor != floor {
		t.Errorf("floor %d, want %d", gotFloor, floor)
	}
	if over, _ := db.VanishedOverflow(ctx, 5); len(over) != 0 {
		t.Errorf("still over after pruning: %v", over)
	}
	// At and above the floor: exact.
	got, exceeded := vanishedSince(t, db, mb.ID, floor)
	if want := []UIDRange{{15, 18}, {20, 20}}; exceeded || !reflect.DeepEqual(got, want) {
		t.Errorf("since the floor: %v (exceeded %v), want %v", got, exceeded, want)
	}
	// Below: every UID under UIDNEXT that is not in the mailbox.
	m, _ := db.MailboxByID(ctx, mb.ID)
	present := map[uint32]bool{}
	for _, c := range changedSince(t, db, mb.ID, 0, 1, 0xffffffff) {
		present[c.UID] = true
	}
	var missing []uint32
	for u := uint32(1); u < m.UIDNext; u++ {
		if !present[u] {
			missing = append(missing, u)
		}
	}
	for _, since := range []uint64{0, start, modseqs[3], floor - 1} {
		got, exceeded := vanishedSince(t, db, mb.ID, since)
		if !exceeded || !slices.Equal(uidsOf(got), missing) {
			t.Errorf("since %d: %v (exceeded %v), want all of %v", since, got, exceeded, missing)
		}
	}
	// The other mailbox was left alone.
	if got, exceeded := vanishedSince(t, db, small.ID, 0); exceeded || !reflect.DeepEqual(got, []UIDRange{{2, 2}}) {
		t.Errorf("small mailbox: %v (exceeded %v)", got, exceeded)
	}
	// Pruning again finds nothing and keeps the floor.
	write(t, db, func(tx *Tx) error {
		n, err := tx.PruneVanished(mb.ID, 5, 3)
		if n != 0 {
			t.Errorf("second prune forgot %d", n)
		}
		return err
	})
	// Keep 0 forgets everything; the floor is then the last expunge.
	write(t, db, func(tx *Tx) error {
		_, err := tx.PruneVanished(mb.ID, 0, 100)
		return err
	})
	db.rdb.QueryRow(`SELECT vanished_floor FROM mailboxes WHERE id = ?`, mb.ID).Scan(&gotFloor)
	if gotFloor != modseqs[len(modseqs)-1] {
		t.Errorf("floor after forgetting all: %d, want %d", gotFloor, modseqs[len(modseqs)-1])
	}
	if got, exceeded := vanishedSince(t, db, mb.ID, gotFloor); exceeded || len(got) != 0 {
		t.Errorf("since the last expunge: %v (exceeded %v)", got, exceeded)
	}
}

// The gaps of a mailbox are right however the messages lie: none, all
// gone, a gap at the start, at the end, between.
func TestVanishedGaps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n      int
		remove []uint32
		want   []UIDRange
	}{
		{0, nil, nil},
		{3, nil, nil},
		{3, []uint32{1, 2, 3}, []UIDRange{{1, 3}}},
		{5, []uint32{1, 2}, []UIDRange{{1, 2}}},
		{5, []uint32{5}, []UIDRange{{5, 5}}},
		{6, []uint32{2, 4, 5}, []UIDRange{{2, 2}, {4, 5}}},
		{6, []uint32{1, 3, 6}, []UIDRange{{1, 1}, {3, 3}, {6, 6}}},
	} {
		db := openTest(t, Options{})
		_, mb := resyncFixture(t, db, tc.n)
		write(t, db, func(tx *Tx) error {
			if _, err := tx.RemoveMessages(mb.ID, tc.remove); err != nil {
				return err
			}
			// Forget every expunge, so the answer comes from the gaps.
			_, err := tx.exec(`UPDATE mailboxes SET vanished_floor = highestmodseq WHERE id = ?`, mb.ID)
			return err
		})
		got, exceeded := vanishedSince(t, db, mb.ID, 0)
		if tc.n > 0 && !exceeded {
			t.Errorf("%d messages less %v: floor not exceeded", tc.n, tc.remove)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d messages less %v: %v, want %v", tc.n, tc.remove, got, tc.want)
		}
	}
}

// queryPlan returns SQLite's plan of a query, its steps joined by "; ".
func queryPlan(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.rdb.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

func TestResyncQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	_, mb := resyncFixture(t, db, 3)
	for _, tc := range []struct {
		name, query string
		args        []any
		want        string
	}{
		{"changed", changedQuery, []any{mb.ID, 1, 1, 0xffffffff}, "SEARCH messages USING INDEX messages_modseq (mailbox_id=? AND modseq>?)"},
		{"vanished", vanishedQuery, []any{mb.ID, 1}, "SEARCH vanished USING COVERING INDEX vanished_modseq (mailbox_id=? AND modseq>?)"},
		{"gaps", gapsQuery, []any{mb.ID}, "USING COVERING INDEX"},
		{"overflow", overflowQuery, []any{5}, "SCAN vanished USING COVERING INDEX"},
		{"prune cut", pruneCutQuery, []any{mb.ID, 5}, "SEARCH vanished USING COVERING INDEX vanished_modseq (mailbox_id=?)"},
		{"prune", pruneQuery, []any{mb.ID, 5, 3}, "SEARCH vanished USING COVERING INDEX vanished_modseq (mailbox_id=? AND modseq<?)"},
	} {
		plan := queryPlan(t, db, tc.query, tc.args...)
		if !strings.Contains(plan, tc.want) || strings.Contains(plan, "SCAN messages") {
			t.Errorf("%s plan:\n%s\nwant %q", tc.name, plan, tc.want)
		}
		if tc.name != "changed" && strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s plan sorts: %s", tc.name, plan)
		}
	}
}

// The migration on a database with mail: every existing mailbox's floor
// is its HIGHESTMODSEQ, since its earlier expunges were never recorded,
// so a client resynchronising from before gets the full answer, and one
// already at HIGHESTMODSEQ the exact (empty) one. New mailboxes and new
// expunges work as usual.
func TestMigrationVanished(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	names, err := migrations.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	// Every migration before this one, whatever its number.
	mine := slices.IndexFunc(names, func(e fs.DirEntry) bool { return strings.HasSuffix(e.Name(), "_vanished.sql") })
	if mine < 0 {
		t.Fatal("no *_vanished.sql migration")
	}
	for _, e := range names[:mine] {
		body, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
	}
	// Box had UIDs 1..5 and lost 2 and 5 (unrecorded); its highest MODSEQ
	// is 9.
	_, err = raw.Exec(fmt.Sprintf(`PRAGMA user_version = %d;
		INSERT INTO accounts(id, address, password_hash, created) VALUES (7, 'a@x.org', 'h', 1);
		INSERT INTO mailboxes(id, account_id, name, uidvalidity, uidnext, highestmodseq) VALUES (3, 7, 'Box', 100, 6, 9);
		INSERT INTO blobs(id, size, envelope, structure, data) VALUES (5, 3, '{}', '{}', 'abc');
		INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES
			(3, 1, 2, 5, 1, 3), (3, 3, 4, 5, 1, 3), (3, 4, 7, 5, 1, 3);`, mine))
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, exceeded := vanishedSince(t, db, 3, 4); !exceeded || !reflect.DeepEqual(got, []UIDRange{{2, 2}, {5, 5}}) {
		t.Errorf("since 4: %v (exceeded %v), want [2 5] and exceeded", got, exceeded)
	}
	if got, exceeded := vanishedSince(t, db, 3, 9); exceeded || len(got) != 0 {
		t.Errorf("since 9: %v (exceeded %v), want nothing, exact", got, exceeded)
	}
	write(t, db, func(tx *Tx) error {
		_, err := tx.RemoveMessages(3, []uint32{3})
		return err
	})
	if got, exceeded := vanishedSince(t, db, 3, 9); exceeded || !reflect.DeepEqual(got, []UIDRange{{3, 3}}) {
		t.Errorf("after an expunge, since 9: %v (exceeded %v), want [3]", got, exceeded)
	}
	var fresh Mailbox
	write(t, db, func(tx *Tx) error {
		var err error
		fresh, err = tx.CreateMailbox(7, "New", "", false, testNow)
		return err
	})
	if got, exceeded := vanishedSince(t, db, fresh.ID, 0); exceeded || len(got) != 0 {
		t.Errorf("new mailbox: %v (exceeded %v)", got, exceeded)
	}
}
