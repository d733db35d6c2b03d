package postgres

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"pillarbox/store"
	"pillarbox/store/storesuite"
)

// readTestSnapshot opens a snapshot closed when t ends (it holds one of
// the pool's few connections until then).
func readTestSnapshot(t *testing.T, db *DB) *Snapshot {
	t.Helper()
	s, err := db.snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readTestFixture makes a mailbox of n messages (UIDs 1..n), message i
// of blob "message i" and size i, \Seen on the odd UIDs.
func readTestFixture(t *testing.T, db *DB, n int) (mb int64, blobs []int64) {
	t.Helper()
	mb = readTestMailbox(t, db.pool, "a@example.org", fmt.Sprint("Box", n))
	for i := 1; i <= n; i++ {
		blob := searchInsertBlob(t, db.pool, &store.Blob{Data: fmt.Appendf(nil, "message %d", i),
			Envelope: fmt.Appendf(nil, `{"s":"%d"}`, i)}, true)
		blobs = append(blobs, blob)
		readTestAppend(t, db.pool, mb, blob, i%2*store.FlagSeen, nil, searchTestNow.Add(time.Duration(i)*time.Second), int64(i))
	}
	return mb, blobs
}

func TestSnapshotMailboxAndKeywords(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	mb, _ := readTestFixture(t, db, 3)
	exec(t, db.pool, `UPDATE messages SET flags = flags | 8 WHERE mailbox_id = $1 AND uid = 3`, mb)
	exec(t, db.pool, `INSERT INTO subscriptions(account_id, name) SELECT account_id, name FROM mailboxes WHERE id = $1`, mb)
	for _, k := range []string{"work", "$Label1", "Done", "_x", "later"} {
		exec(t, db.pool, `INSERT INTO mailbox_keywords(mailbox_id, keyword) VALUES ($1, $2)`, mb, k)
	}
	s := readTestSnapshot(t, db)
	m, c, err := s.Mailbox(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != mb || m.Name != "Box3" || m.UIDNext != 4 || m.HighestModSeq != 4 || !m.Subscribed || m.UIDValidity == 0 {
		t.Errorf("mailbox %+v", m)
	}
	if want := (store.MailboxCounts{Messages: 3, Unseen: 1, Deleted: 1, Size: 6, DeletedSize: 3}); c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
	if _, _, err := s.Mailbox(ctx, mb+100); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown mailbox: %v", err)
	}
	// SQLite's NOCASE order: ASCII letters as lower case ("_" sorts
	// before them).
	kws, err := s.Keywords(ctx, mb)
	if want := []string{"$Label1", "_x", "Done", "later", "work"}; err != nil || !slices.Equal(kws, want) {
		t.Errorf("keywords %q, %v; want %q", kws, err, want)
	}
	if kws, err := s.Keywords(ctx, mb+100); err != nil || kws != nil {
		t.Errorf("keywords of no mailbox: %q, %v", kws, err)
	}
}

func TestSnapshotSequenceNumbers(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	mb, _ := readTestFixture(t, db, 12)
	exec(t, db.pool, `DELETE FROM messages WHERE mailbox_id = $1 AND uid IN (1, 4, 5, 12)`, mb)
	uids := []uint32{2, 3, 6, 7, 8, 9, 10, 11}
	total := uint32(len(uids))
	empty := readTestMailbox(t, db.pool, "a@example.org", "Empty")
	s := readTestSnapshot(t, db)
	if got, err := s.UIDs(ctx, mb); err != nil || !slices.Equal(got, uids) {
		t.Errorf("UIDs %v, %v", got, err)
	}
	if got, err := s.UIDs(ctx, empty); err != nil || len(got) != 0 {
		t.Errorf("UIDs of an empty mailbox %v, %v", got, err)
	}
	for seq := uint32(0); seq <= total+1; seq++ {
		want := uint32(0)
		if seq >= 1 && seq <= total {
			want = uids[seq-1]
		}
		if got, err := s.UIDAt(ctx, mb, seq, total); err != nil || got != want {
			t.Errorf("UIDAt(%d) = %d, %v; want %d", seq, got, err, want)
		}
	}
	for uid := uint32(0); uid <= 14; uid++ {
		want := uint32(0)
		for _, u := range uids {
			if u < uid {
				want++
			}
		}
		if got, err := s.CountBelow(ctx, mb, uid, total); err != nil || got != want {
			t.Errorf("CountBelow(%d) = %d, %v; want %d", uid, got, err, want)
		}
	}
	if got, err := s.CountBelow(ctx, empty, 5, 0); err != nil || got != 0 {
		t.Errorf("CountBelow in an empty mailbox = %d, %v", got, err)
	}
	for _, tc := range []struct{ lo, hi, want uint32 }{{1, 0xffffffff, 8}, {3, 7, 3}, {4, 5, 0}, {9, 2, 0}} {
		if got, err := s.CountUIDs(ctx, mb, tc.lo, tc.hi); err != nil || got != tc.want {
			t.Errorf("CountUIDs(%d, %d) = %d, %v; want %d", tc.lo, tc.hi, got, err, tc.want)
		}
	}
	if got, err := s.MaxUID(ctx, mb); err != nil || got != 11 {
		t.Errorf("MaxUID = %d, %v", got, err)
	}
	if got, err := s.MaxUID(ctx, empty); err != nil || got != 0 {
		t.Errorf("MaxUID of an empty mailbox = %d, %v", got, err)
	}
	// The odd UIDs are \Seen: the first unseen left is 2.
	if got, err := s.FirstUnseen(ctx, mb); err != nil || got != 2 {
		t.Errorf("FirstUnseen = %d, %v", got, err)
	}
	if got, err := s.FirstUnseen(ctx, empty); err != nil || got != 0 {
		t.Errorf("FirstUnseen of an empty mailbox = %d, %v", got, err)
	}
}

func TestSnapshotMessagesAndBlobs(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	mb, blobs := readTestFixture(t, db, 5)
	// UID 6 shares blob 2's message; UID 3 has keywords and a save date.
	readTestAppend(t, db.pool, mb, blobs[1], 0, nil, searchTestNow, 2)
	exec(t, db.pool, `UPDATE messages SET keywords = 'Work $Label1', saved = $2 WHERE mailbox_id = $1 AND uid = 3`, mb, searchTestNow.Unix()+1000)
	s := readTestSnapshot(t, db)
	if got, err := s.UIDsOfBlob(ctx, mb, blobs[1]); err != nil || !slices.Equal(got, []uint32{2, 6}) {
		t.Errorf("UIDsOfBlob = %v, %v", got, err)
	}
	if got, err := s.UIDsOfBlob(ctx, mb, -1); err != nil || got != nil {
		t.Errorf("UIDsOfBlob of no blob = %v, %v", got, err)
	}
	collect := func(lo, hi uint32, limit int, cols store.MessageColumns) []store.Message {
		t.Helper()
		var out []store.Message
		if err := s.EachMessage(ctx, mb, lo, hi, limit, cols, func(m *store.Message) error {
			out = append(out, *m)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := collect(1, 0xffffffff, -1, store.ColumnsRow)
	if len(all) != 6 {
		t.Fatalf("EachMessage gave %d messages, want 6", len(all))
	}
	m3 := all[2]
	want := store.Message{ID: m3.ID, MailboxID: mb, UID: 3, ModSeq: 4, BlobID: blobs[2], InternalDate: time.Unix(searchTestNow.Unix()+3, 0),
		Size: 3, Flags: store.FlagSeen, Keywords: []string{"Work", "$Label1"}, SaveDate: time.Unix(searchTestNow.Unix()+1000, 0)}
	if !reflect.DeepEqual(m3, want) || m3.ID == 0 {
		t.Errorf("message 3 %+v, want %+v", m3, want)
	}
	if m2 := all[1]; !m2.SaveDate.Equal(m2.InternalDate) || m2.Keywords != nil {
		t.Errorf("message 2 without a save date or keywords: %+v", m2)
	}
	flags := collect(2, 4, 10, store.ColumnsFlags)
	if len(flags) != 3 || flags[1].UID != 3 || flags[1].ModSeq != 4 || flags[1].BlobID != 0 || !flags[1].InternalDate.IsZero() ||
		!slices.Equal(flags[1].Keywords, []string{"Work", "$Label1"}) {
		t.Errorf("flags of 2:4: %+v", flags)
	}
	if got := collect(2, 0xffffffff, 2, store.ColumnsFlags); len(got) != 2 || got[0].UID != 2 || got[1].UID != 3 {
		t.Errorf("limit 2: %+v", got)
	}
	if got := collect(1, 9, 0, store.ColumnsFlags); len(got) != 0 {
		t.Errorf("limit 0: %+v", got)
	}
	stop := errors.New("enough")
	if err := s.EachMessage(ctx, mb, 1, 9, -1, store.ColumnsFlags, func(*store.Message) error { return stop }); err != stop {
		t.Errorf("fn's error: %v", err)
	}
	metas := map[int64]string{}
	if err := s.BlobMetas(ctx, []int64{blobs[0], blobs[4], -5}, func(id int64, env, st []byte) error {
		metas[id] = string(env) + string(st)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := map[int64]string{blobs[0]: `{"s":"1"}{}`, blobs[4]: `{"s":"5"}{}`}; !reflect.DeepEqual(metas, want) {
		t.Errorf("BlobMetas %v, want %v", metas, want)
	}
	for _, tc := range []struct {
		start, n int64
		want     string
	}{{0, 7, "message"}, {8, 100, "1"}, {3, 0, ""}, {-1, 3, ""}, {50, 3, ""}} {
		if got, err := s.BlobRange(ctx, blobs[0], tc.start, tc.n); err != nil || string(got) != tc.want {
			t.Errorf("BlobRange(%d, %d) = %q, %v; want %q", tc.start, tc.n, got, err, tc.want)
		}
	}
	if _, err := s.BlobRange(ctx, -1, 0, 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("BlobRange of no blob: %v", err)
	}
}

// TestSnapshotRepeatableRead: a snapshot sees the database as of its
// first query, whatever another node commits afterwards; a new snapshot
// sees the change.
func TestSnapshotRepeatableRead(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	ctx := context.Background()
	mb, blobs := readTestFixture(t, a, 3)
	s := readTestSnapshot(t, a)
	before, _, err := s.Mailbox(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	// Another node adds a message, flags one and removes one.
	readTestAppend(t, b.pool, mb, blobs[0], 0, []string{"New"}, searchTestNow, 9)
	exec(t, b.pool, `UPDATE messages SET flags = 4, modseq = 99 WHERE mailbox_id = $1 AND uid = 1`, mb)
	exec(t, b.pool, `DELETE FROM messages WHERE mailbox_id = $1 AND uid = 2`, mb)
	exec(t, b.pool, `INSERT INTO vanished(mailbox_id, uid, modseq) VALUES ($1, 2, 100)`, mb)
	m, c, err := s.Mailbox(ctx, mb)
	if err != nil || m != before || c.Messages != 3 {
		t.Errorf("mailbox after another node's writes: %+v %+v, %v; want %+v with 3 messages", m, c, err, before)
	}
	if uids, _ := s.UIDs(ctx, mb); !slices.Equal(uids, []uint32{1, 2, 3}) {
		t.Errorf("UIDs %v, want [1 2 3]", uids)
	}
	if kws, _ := s.Keywords(ctx, mb); kws != nil {
		t.Errorf("keywords %q, want none", kws)
	}
	var changed []uint32
	s.ChangedSince(ctx, mb, before.HighestModSeq, 1, 0xffffffff, func(c store.Changed) error { changed = append(changed, c.UID); return nil })
	if v, _, err := s.VanishedSince(ctx, mb, 0); err != nil || v != nil || changed != nil {
		t.Errorf("vanished %v, changed %v, %v; want none", v, changed, err)
	}
	if got := storesuite.SearchUIDs(t, a, mb, &store.SearchCriteria{}, false); !slices.Equal(got, []uint32{1, 3, 4}) {
		t.Errorf("a new snapshot finds %v, want [1 3 4]", got)
	}
	fresh := readTestSnapshot(t, a)
	if uids, _ := fresh.UIDs(ctx, mb); !slices.Equal(uids, []uint32{1, 3, 4}) {
		t.Errorf("a new snapshot's UIDs %v, want [1 3 4]", uids)
	}
}

// readTestRemove expunges uids as RemoveMessages does, with plain SQL:
// one new MODSEQ, remembered for each UID in vanished. It returns the
// mailbox's HIGHESTMODSEQ afterwards.
func readTestRemove(t *testing.T, db *DB, mb int64, uids []uint32) uint64 {
	t.Helper()
	var modseq uint64
	if err := db.pool.QueryRow(context.Background(), `UPDATE mailboxes SET highestmodseq = highestmodseq + 1
		WHERE id = $1 RETURNING highestmodseq`, mb).Scan(&modseq); err != nil {
		t.Fatal(err)
	}
	for _, u := range uids {
		exec(t, db.pool, `DELETE FROM messages WHERE mailbox_id = $1 AND uid = $2`, mb, u)
		exec(t, db.pool, `INSERT INTO vanished(mailbox_id, uid, modseq) VALUES ($1, $2, $3)`, mb, u, modseq)
	}
	return modseq
}

func readTestHighest(t *testing.T, db *DB, mb int64) uint64 {
	t.Helper()
	var v uint64
	if err := db.pool.QueryRow(context.Background(), `SELECT highestmodseq FROM mailboxes WHERE id = $1`, mb).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func readTestVanished(t *testing.T, db *DB, mb int64, since uint64) ([]store.UIDRange, bool) {
	t.Helper()
	snap, err := db.snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	v, exceeded, err := snap.VanishedSince(context.Background(), mb, since)
	if err != nil {
		t.Fatal(err)
	}
	return v, exceeded
}

func readTestChanged(t *testing.T, db *DB, mb int64, since uint64, lo, hi uint32) []store.Changed {
	t.Helper()
	snap, err := db.snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var out []store.Changed
	if err := snap.ChangedSince(context.Background(), mb, since, lo, hi, func(c store.Changed) error {
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVanishedSinceRanges(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	mb, _ := readTestFixture(t, db, 12)
	start := readTestHighest(t, db, mb)
	var marks []uint64
	for _, uids := range [][]uint32{{2, 3, 4}, {9}, {5, 11, 12}} {
		marks = append(marks, readTestRemove(t, db, mb, uids))
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
		{1 << 63, nil},
	} {
		got, exceeded := readTestVanished(t, db, mb, tc.since)
		if exceeded || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("since %d: %v (floor exceeded %v), want %v", tc.since, got, exceeded, tc.want)
		}
	}
	if _, _, err := readTestSnapshot(t, db).VanishedSince(context.Background(), mb+100, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown mailbox: %v", err)
	}
	// Below the floor: every UID under UIDNEXT that is not in the
	// mailbox (1 and 6..8 and 10 remain).
	exec(t, db.pool, `UPDATE mailboxes SET vanished_floor = $2 WHERE id = $1`, mb, marks[1])
	got, exceeded := readTestVanished(t, db, mb, marks[0])
	if want := []store.UIDRange{{Start: 2, Stop: 5}, {Start: 9, Stop: 9}, {Start: 11, Stop: 12}}; !exceeded || !reflect.DeepEqual(got, want) {
		t.Errorf("below the floor: %v (exceeded %v), want %v", got, exceeded, want)
	}
	if got, exceeded := readTestVanished(t, db, mb, marks[1]); exceeded || !reflect.DeepEqual(got, []store.UIDRange{{Start: 5, Stop: 5}, {Start: 11, Stop: 12}}) {
		t.Errorf("at the floor: %v (exceeded %v)", got, exceeded)
	}
}

func TestChangedSince(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	mb, _ := readTestFixture(t, db, 10)
	exec(t, db.pool, `UPDATE messages SET flags = 0 WHERE mailbox_id = $1`, mb)
	start := readTestHighest(t, db, mb)
	mid := start + 1
	exec(t, db.pool, `UPDATE messages SET flags = $2, keywords = 'Work $Label1', modseq = $3 WHERE mailbox_id = $1 AND uid IN (8, 9)`,
		mb, store.FlagSeen|store.FlagAnswered, mid)
	end := mid + 1
	exec(t, db.pool, `UPDATE messages SET flags = $2, modseq = $3 WHERE mailbox_id = $1 AND uid = 2`, mb, store.FlagFlagged, end)
	exec(t, db.pool, `UPDATE mailboxes SET highestmodseq = $2 WHERE id = $1`, mb, end)
	kw := []string{"Work", "$Label1"}
	all := []store.Changed{{UID: 2, ModSeq: end, Flags: store.FlagFlagged}, {UID: 8, ModSeq: mid, Flags: store.FlagSeen | store.FlagAnswered, Keywords: kw},
		{UID: 9, ModSeq: mid, Flags: store.FlagSeen | store.FlagAnswered, Keywords: kw}}
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
		{1 << 63, 1, 0xffffffff, nil},
	} {
		if got := readTestChanged(t, db, mb, tc.since, tc.lo, tc.hi); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("since %d in %d:%d: %+v, want %+v", tc.since, tc.lo, tc.hi, got, tc.want)
		}
	}
	got := readTestChanged(t, db, mb, 0, 1, 0xffffffff)
	if len(got) != 10 || !slices.IsSortedFunc(got, func(a, b store.Changed) int { return int(a.UID) - int(b.UID) }) {
		t.Errorf("since 0: %+v", got)
	}
	stop := fmt.Errorf("enough")
	n := 0
	err := readTestSnapshot(t, db).ChangedSince(context.Background(), mb, 0, 1, 0xffffffff, func(store.Changed) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("stopping: %v after %d rows", err, n)
	}
}

// The gaps of a mailbox are right however the messages lie: none, all
// gone, a gap at the start, at the end, between.
func TestVanishedGaps(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	for i, tc := range []struct {
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
		mb := readTestMailbox(t, db.pool, fmt.Sprintf("g%d@example.org", i), "INBOX")
		blob := searchInsertBlob(t, db.pool, &store.Blob{Data: []byte("x")}, true)
		for range tc.n {
			readTestAppend(t, db.pool, mb, blob, 0, nil, searchTestNow, 1)
		}
		readTestRemove(t, db, mb, tc.remove)
		// Forget every expunge, so the answer comes from the gaps.
		exec(t, db.pool, `DELETE FROM vanished WHERE mailbox_id = $1`, mb)
		exec(t, db.pool, `UPDATE mailboxes SET vanished_floor = highestmodseq WHERE id = $1`, mb)
		got, exceeded := readTestVanished(t, db, mb, 0)
		if !exceeded {
			t.Errorf("%d messages less %v: floor not exceeded", tc.n, tc.remove)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d messages less %v: %v, want %v", tc.n, tc.remove, got, tc.want)
		}
	}
}
