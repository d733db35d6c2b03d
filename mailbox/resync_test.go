package mailbox

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

// appendTo appends n messages to an account's folder and returns their
// UIDs.
func appendTo(t *testing.T, e *queueEnv, account int64, folder string, n int, flags ...string) []uint32 {
	t.Helper()
	var uids []uint32
	for i := range n {
		_, uid, err := e.svc.Append(context.Background(), account, folder,
			fmt.Appendf(nil, "From: a@example.org\r\nSubject: %d\r\n\r\nbody\r\n", i), flags, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, uid)
	}
	return uids
}

// uidSpan is the set of UIDs lo..hi.
func uidSpan(lo, hi uint32) UIDSet { return UIDSet{{Start: lo, Stop: hi}} }

// resyncState reads a folder's HIGHESTMODSEQ, the UIDs expunged since
// modseq and the messages changed since modseq, in one snapshot.
type resyncState struct {
	highest   uint64
	uidNext   uint32
	vanished  []uint32
	exceeded  bool
	changed   []ChangedMessage
	messages  uint32
	validity  uint32
	folderErr error
}

func readResync(t *testing.T, e *queueEnv, folder int64, modseq uint64) resyncState {
	t.Helper()
	var st resyncState
	err := e.svc.ReadMailbox(context.Background(), folder, nil, func(r *Reader) error {
		st.highest, st.uidNext, st.messages, st.validity = r.HighestModSeq(), r.Folder().UIDNext, r.Counts().Messages, r.Folder().UIDValidity
		set, exceeded, err := r.VanishedSince(modseq)
		if err != nil {
			return err
		}
		for _, rg := range set {
			for u := rg.Start; u <= rg.Stop; u++ {
				st.vanished = append(st.vanished, u)
			}
		}
		st.exceeded = exceeded
		return r.ChangedSince(modseq, 1, 0xffffffff, func(c ChangedMessage) error {
			st.changed = append(st.changed, c)
			return nil
		})
	})
	if errors.Is(err, ErrNoSuchFolder) {
		st.folderErr = err
		return st
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func folderID(t *testing.T, e *queueEnv, account int64, name string) int64 {
	t.Helper()
	f, err := e.svc.Folder(context.Background(), account, name)
	if err != nil {
		t.Fatal(err)
	}
	return f.ID
}

// Every way the Service removes messages from a folder that stays
// (EXPUNGE and CLOSE, UID EXPUNGE, MOVE's source, an automatic Sent copy
// replaced by the client's upload) leaves the UIDs for VanishedSince,
// with the MODSEQ that the expunge announcements carry.
func TestRemovalPathsRememberExpunges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		folder string
		// remove removes messages from folder and returns the UIDs it
		// should have removed.
		remove func(t *testing.T, e *queueEnv, folder int64, uids []uint32) []uint32
	}{
		{"EXPUNGE or CLOSE", "INBOX", func(t *testing.T, e *queueEnv, folder int64, uids []uint32) []uint32 {
			ctx := context.Background()
			if err := e.svc.StoreFlags(ctx, e.alice.ID, folder, uidSpan(uids[1], uids[2]), FlagsAdd, []string{FlagDeleted}, nil); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.Expunge(ctx, e.alice.ID, folder, nil, nil); err != nil {
				t.Fatal(err)
			}
			return uids[1:3]
		}},
		{"UID EXPUNGE", "INBOX", func(t *testing.T, e *queueEnv, folder int64, uids []uint32) []uint32 {
			ctx := context.Background()
			if err := e.svc.StoreFlags(ctx, e.alice.ID, folder, uidSpan(uids[0], uids[3]), FlagsAdd, []string{FlagDeleted}, nil); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.Expunge(ctx, e.alice.ID, folder, uidSpan(uids[2], uids[3]), nil); err != nil {
				t.Fatal(err)
			}
			return uids[2:4]
		}},
		{"MOVE", "INBOX", func(t *testing.T, e *queueEnv, folder int64, uids []uint32) []uint32 {
			res, err := e.svc.Copy(context.Background(), e.alice.ID, folder, uidSpan(uids[0], uids[1]), "Archive", true, nil)
			if err != nil || len(res.DstUIDs) != 2 {
				t.Fatalf("move: %+v %v", res, err)
			}
			return uids[:2]
		}},
		{"Sent copy replaced", "Sent", func(t *testing.T, e *queueEnv, folder int64, uids []uint32) []uint32 {
			res := e.submit(t, &Submission{Data: sentMsg("r1@example.org")})
			if _, _, err := e.svc.Append(context.Background(), e.alice.ID, "Sent", sentMsg("r1@example.org"), nil, time.Time{}); err != nil {
				t.Fatal(err)
			}
			return []uint32{res.SentUID}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _ := sentEnv(t, Options{})
			folder := folderID(t, e, e.alice.ID, tc.folder)
			uids := appendTo(t, e, e.alice.ID, tc.folder, 4)
			before := readResync(t, e, folder, 0).highest
			want := tc.remove(t, e, folder, uids)
			after := readResync(t, e, folder, before)
			if after.exceeded || !slices.Equal(after.vanished, want) {
				t.Errorf("vanished since %d: %v (floor exceeded %v), want %v", before, after.vanished, after.exceeded, want)
			}
			var announced []uint32
			for _, c := range e.changes.changesOf(folder) {
				if c.Kind != ChangeExpunged {
					continue
				}
				announced = append(announced, c.UID)
				if c.ModSeq == 0 || c.ModSeq > after.highest || c.ModSeq <= before {
					t.Errorf("uid %d announced with modseq %d, want in (%d, %d]", c.UID, c.ModSeq, before, after.highest)
				}
				// Asking from just before the expunge gives it back.
				if st := readResync(t, e, folder, c.ModSeq-1); !slices.Contains(st.vanished, c.UID) {
					t.Errorf("uid %d not vanished since %d: %v", c.UID, c.ModSeq-1, st.vanished)
				}
			}
			slices.Sort(announced)
			if !slices.Equal(announced, want) {
				t.Errorf("announced expunges %v, want %v", announced, want)
			}
			if st := readResync(t, e, folder, after.highest); len(st.vanished) != 0 || st.exceeded {
				t.Errorf("vanished since HIGHESTMODSEQ: %v (exceeded %v)", st.vanished, st.exceeded)
			}
		})
	}
}

// A deleted folder takes its expunges along; created again it has a new
// UIDVALIDITY and has forgotten nothing of its own. The same when the
// account goes.
func TestDeletedFolderForgetsExpunges(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	if err := e.svc.CreateFolder(ctx, e.alice.ID, "Lists", ""); err != nil {
		t.Fatal(err)
	}
	old := folderID(t, e, e.alice.ID, "Lists")
	uids := appendTo(t, e, e.alice.ID, "Lists", 3, FlagDeleted)
	if err := e.svc.Expunge(ctx, e.alice.ID, old, uidSpan(uids[0], uids[0]), nil); err != nil {
		t.Fatal(err)
	}
	gone := readResync(t, e, old, 0)
	if !slices.Equal(gone.vanished, uids[:1]) {
		t.Fatalf("before delete: vanished %v", gone.vanished)
	}
	if err := e.svc.DeleteFolder(ctx, e.alice.ID, "Lists"); err != nil {
		t.Fatal(err)
	}
	if st := readResync(t, e, old, 0); st.folderErr == nil {
		t.Errorf("deleted folder still readable: %+v", st)
	}
	if err := e.svc.CreateFolder(ctx, e.alice.ID, "Lists", ""); err != nil {
		t.Fatal(err)
	}
	again := readResync(t, e, folderID(t, e, e.alice.ID, "Lists"), 0)
	if again.validity == gone.validity || len(again.vanished) != 0 || again.exceeded {
		t.Errorf("created again: UIDVALIDITY %d (was %d), vanished %v, exceeded %v", again.validity, gone.validity, again.vanished, again.exceeded)
	}
	inbox := folderID(t, e, e.bob.ID, "INBOX")
	appendTo(t, e, e.bob.ID, "INBOX", 2, FlagDeleted)
	if err := e.svc.Expunge(ctx, e.bob.ID, inbox, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteUser(ctx, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if st := readResync(t, e, inbox, 0); st.folderErr == nil {
		t.Errorf("folder of a deleted account still readable: %+v", st)
	}
}

func TestReaderChangedSince(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	inbox := folderID(t, e, e.alice.ID, "INBOX")
	uids := appendTo(t, e, e.alice.ID, "INBOX", 5)
	start := readResync(t, e, inbox, 0).highest
	if err := e.svc.StoreFlags(ctx, e.alice.ID, inbox, uidSpan(uids[3], uids[4]), FlagsAdd, []string{FlagSeen, "$Work"}, nil); err != nil {
		t.Fatal(err)
	}
	mid := readResync(t, e, inbox, 0).highest
	if err := e.svc.StoreFlags(ctx, e.alice.ID, inbox, uidSpan(uids[1], uids[1]), FlagsAdd, []string{FlagFlagged}, nil); err != nil {
		t.Fatal(err)
	}
	st := readResync(t, e, inbox, start)
	want := []ChangedMessage{
		{uids[1], st.highest, []string{FlagFlagged}},
		{uids[3], mid, []string{FlagSeen, "$Work"}},
		{uids[4], mid, []string{FlagSeen, "$Work"}},
	}
	if !reflect.DeepEqual(st.changed, want) {
		t.Errorf("changed since %d: %+v, want %+v", start, st.changed, want)
	}
	if got := readResync(t, e, inbox, mid).changed; !reflect.DeepEqual(got, want[:1]) {
		t.Errorf("changed since %d: %+v, want %+v", mid, got, want[:1])
	}
	// A UID range narrows it.
	var got []uint32
	err := e.svc.ReadMailbox(ctx, inbox, nil, func(r *Reader) error {
		return r.ChangedSince(start, uids[2], uids[3], func(c ChangedMessage) error { got = append(got, c.UID); return nil })
	})
	if err != nil || !slices.Equal(got, uids[3:4]) {
		t.Errorf("changed in %d:%d: %v %v", uids[2], uids[3], got, err)
	}
}

// PruneVanished keeps Options.VanishedKeep expunges per folder; a client
// from before what was forgotten is told every UID that is gone.
func TestServicePruneVanished(t *testing.T) {
	t.Parallel()
	e, _ := sentEnv(t, Options{VanishedKeep: 2})
	ctx := context.Background()
	inbox := folderID(t, e, e.alice.ID, "INBOX")
	uids := appendTo(t, e, e.alice.ID, "INBOX", 6, FlagDeleted)
	start := readResync(t, e, inbox, 0).highest
	var marks []uint64
	for _, u := range uids[:5] {
		if err := e.svc.Expunge(ctx, e.alice.ID, inbox, uidSpan(u, u), nil); err != nil {
			t.Fatal(err)
		}
		marks = append(marks, readResync(t, e, inbox, 0).highest)
	}
	// Bob's INBOX, under the limit, is left alone.
	bobInbox := folderID(t, e, e.bob.ID, "INBOX")
	bobUIDs := appendTo(t, e, e.bob.ID, "INBOX", 1, FlagDeleted)
	if err := e.svc.Expunge(ctx, e.bob.ID, bobInbox, nil, nil); err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.PruneVanished(ctx)
	if err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want 3", n, err)
	}
	if n, err := e.svc.PruneVanished(ctx); err != nil || n != 0 {
		t.Errorf("second prune: %d (%v), want 0", n, err)
	}
	// From the last forgotten expunge on: exact.
	if st := readResync(t, e, inbox, marks[2]); st.exceeded || !slices.Equal(st.vanished, uids[3:5]) {
		t.Errorf("since %d: %v (exceeded %v), want %v exactly", marks[2], st.vanished, st.exceeded, uids[3:5])
	}
	// From before it: every UID that is gone, and the flag.
	for _, since := range []uint64{0, start, marks[0], marks[2] - 1} {
		if st := readResync(t, e, inbox, since); !st.exceeded || !slices.Equal(st.vanished, uids[:5]) {
			t.Errorf("since %d: %v (exceeded %v), want %v and exceeded", since, st.vanished, st.exceeded, uids[:5])
		}
	}
	if st := readResync(t, e, bobInbox, 0); st.exceeded || !slices.Equal(st.vanished, bobUIDs) {
		t.Errorf("bob: %v (exceeded %v), want %v", st.vanished, st.exceeded, bobUIDs)
	}
}

func TestUIDSetIntersect(t *testing.T) {
	t.Parallel()
	r := func(pairs ...uint32) UIDSet {
		var s UIDSet
		for i := 0; i < len(pairs); i += 2 {
			s = append(s, UIDRange{Start: pairs[i], Stop: pairs[i+1]})
		}
		return s
	}
	for _, tc := range []struct{ a, b, want UIDSet }{
		{nil, r(1, 5), nil},
		{r(1, 5), nil, nil},
		{r(1, 5), r(6, 9), nil},
		{r(1, 5), r(5, 9), r(5, 5)},
		{r(1, 10), r(2, 3, 5, 5, 9, 12), r(2, 3, 5, 5, 9, 10)},
		{r(2, 3, 5, 5, 9, 12), r(1, 10), r(2, 3, 5, 5, 9, 10)},
		{r(1, 3, 7, 9), r(2, 8), r(2, 3, 7, 8)},
		{r(1, 0xffffffff), r(4294967295, 4294967295), r(4294967295, 4294967295)},
	} {
		got := tc.a.Intersect(tc.b)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v ∩ %v = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		// Brute force over the small UIDs agrees.
		for u := uint32(1); u <= 20; u++ {
			if got.Contains(u) != (tc.a.Contains(u) && tc.b.Contains(u)) {
				t.Errorf("%v ∩ %v: uid %d wrong", tc.a, tc.b, u)
			}
		}
	}
}
