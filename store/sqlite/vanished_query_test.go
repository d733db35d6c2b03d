package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"pillarbox/store"
	"reflect"
	"slices"
	"strings"
	"testing"
)

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
		want  []store.UIDRange
	}{
		{start, []store.UIDRange{{Start: 2, Stop: 5}, {Start: 9, Stop: 9}, {Start: 11, Stop: 12}}},
		{marks[0], []store.UIDRange{{Start: 5, Stop: 5}, {Start: 9, Stop: 9}, {Start: 11, Stop: 12}}},
		{marks[1], []store.UIDRange{{Start: 5, Stop: 5}, {Start: 11, Stop: 12}}},
		{marks[2], nil},
		{marks[2] + 100, nil},
	} {
		got, exceeded := vanishedSince(t, db, mb.ID, tc.since)
		if exceeded || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("since %d: %v (floor exceeded %v), want %v", tc.since, got, exceeded, tc.want)
		}
	}
	snap, err := db.snapshot(context.Background())
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
		_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 8, Stop: 9}}, store.FlagsAdd, store.FlagSeen|store.FlagAnswered, []string{"Work", "$Label1"})
		return err
	})
	mid := highestModSeq(t, db, mb.ID)
	write(t, db, func(tx *Tx) error {
		_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 2, Stop: 2}}, store.FlagsAdd, store.FlagFlagged, nil)
		return err
	})
	end := highestModSeq(t, db, mb.ID)
	kw := []string{"Work", "$Label1"}
	all := []store.Changed{{UID: 2, ModSeq: end, Flags: store.FlagFlagged}, {UID: 8, ModSeq: mid, Flags: store.FlagSeen | store.FlagAnswered, Keywords: kw}, {UID: 9, ModSeq: mid, Flags: store.FlagSeen | store.FlagAnswered, Keywords: kw}}
	for _, tc := range []struct {
		since  uint64
		lo, hi uint32
		want   []store.Changed
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
	if len(got) != 10 || !slices.IsSortedFunc(got, func(a, b store.Changed) int { return int(a.UID) - int(b.UID) }) {
		t.Errorf("since 0: %+v", got)
	}
	// fn's error stops the walk and comes back as is.
	snap, _ := db.snapshot(context.Background())
	defer snap.Close()
	stop := fmt.Errorf("enough")
	n := 0
	err := snap.ChangedSince(context.Background(), mb.ID, 0, 1, 0xffffffff, func(store.Changed) error { n++; return stop })
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
	var small store.Mailbox
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
	if want := []store.UIDRange{{Start: 15, Stop: 18}, {Start: 20, Stop: 20}}; exceeded || !reflect.DeepEqual(got, want) {
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
	if got, exceeded := vanishedSince(t, db, small.ID, 0); exceeded || !reflect.DeepEqual(got, []store.UIDRange{{Start: 2, Stop: 2}}) {
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
		want   []store.UIDRange
	}{
		{0, nil, nil},
		{3, nil, nil},
		{3, []uint32{1, 2, 3}, []store.UIDRange{{Start: 1, Stop: 3}}},
		{5, []uint32{1, 2}, []store.UIDRange{{Start: 1, Stop: 2}}},
		{5, []uint32{5}, []store.UIDRange{{Start: 5, Stop: 5}}},
		{6, []uint32{2, 4, 5}, []store.UIDRange{{Start: 2, Stop: 2}, {Start: 4, Stop: 5}}},
		{6, []uint32{1, 3, 6}, []store.UIDRange{{Start: 1, Stop: 1}, {Start: 3, Stop: 3}, {Start: 6, Stop: 6}}},
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
	// Every migration before this one, whatever its number.
	raw := rawAtVersion(t, path, migrationNumber(t, "_vanished.sql")-1)
	// Box had UIDs 1..5 and lost 2 and 5 (unrecorded); its highest MODSEQ
	// is 9.
	_, err := raw.Exec(`
		INSERT INTO accounts(id, address, password_hash, created) VALUES (7, 'a@x.org', 'h', 1);
		INSERT INTO mailboxes(id, account_id, name, uidvalidity, uidnext, highestmodseq) VALUES (3, 7, 'Box', 100, 6, 9);
		INSERT INTO blobs(id, size, envelope, structure, data) VALUES (5, 3, '{}', '{}', 'abc');
		INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES
			(3, 1, 2, 5, 1, 3), (3, 3, 4, 5, 1, 3), (3, 4, 7, 5, 1, 3);`)
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, exceeded := vanishedSince(t, db, 3, 4); !exceeded || !reflect.DeepEqual(got, []store.UIDRange{{Start: 2, Stop: 2}, {Start: 5, Stop: 5}}) {
		t.Errorf("since 4: %v (exceeded %v), want [2 5] and exceeded", got, exceeded)
	}
	if got, exceeded := vanishedSince(t, db, 3, 9); exceeded || len(got) != 0 {
		t.Errorf("since 9: %v (exceeded %v), want nothing, exact", got, exceeded)
	}
	write(t, db, func(tx *Tx) error {
		_, err := tx.RemoveMessages(3, []uint32{3})
		return err
	})
	if got, exceeded := vanishedSince(t, db, 3, 9); exceeded || !reflect.DeepEqual(got, []store.UIDRange{{Start: 3, Stop: 3}}) {
		t.Errorf("after an expunge, since 9: %v (exceeded %v), want [3]", got, exceeded)
	}
	var fresh store.Mailbox
	write(t, db, func(tx *Tx) error {
		var err error
		fresh, err = tx.CreateMailbox(7, "New", "", false, testNow)
		return err
	})
	if got, exceeded := vanishedSince(t, db, fresh.ID, 0); exceeded || len(got) != 0 {
		t.Errorf("new mailbox: %v (exceeded %v)", got, exceeded)
	}
}
