package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"pillarbox/store"
	"reflect"
	"slices"
	"testing"
)

// resyncFixture makes an account with a mailbox "Box" holding n messages
// (UIDs 1..n) and returns the account and the mailbox.
func resyncFixture(t *testing.T, db *DB, n int) (int64, store.Mailbox) {
	t.Helper()
	var acct int64
	var mb store.Mailbox
	err := db.write(context.Background(), func(tx *Tx) error {
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
		bid, err := tx.InsertBlob(&store.Blob{Data: fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i), Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		if _, err := tx.AppendMessage(store.NewMessage{MailboxID: mailboxID, BlobID: bid, InternalDate: testNow, Size: 20}); err != nil {
			return err
		}
	}
	return nil
}

func write(t *testing.T, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.write(context.Background(), fn); err != nil {
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
func vanishedSince(t *testing.T, db *DB, id int64, modseq uint64) ([]store.UIDRange, bool) {
	t.Helper()
	ctx := context.Background()
	snap, err := db.snapshot(ctx)
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

func changedSince(t *testing.T, db *DB, id int64, modseq uint64, lo, hi uint32) []store.Changed {
	t.Helper()
	ctx := context.Background()
	snap, err := db.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var out []store.Changed
	if err := snap.ChangedSince(ctx, id, modseq, lo, hi, func(c store.Changed) error { out = append(out, c); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// uidsOf expands ranges into UIDs.
func uidsOf(rs []store.UIDRange) []uint32 {
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
		if _, err := tx.SetFlags(id, []store.UIDRange{{Start: u, Stop: u}}, store.FlagsAdd, store.FlagDeleted, nil); err != nil {
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
		remove func(tx *Tx, id int64) ([]store.Removed, error)
		want   []uint32
	}{
		{"EXPUNGE", func(tx *Tx, id int64) ([]store.Removed, error) {
			if err := setDeleted(tx, id, 2, 3, 7); err != nil {
				return nil, err
			}
			return tx.ExpungeDeleted(id, nil)
		}, []uint32{2, 3, 7}},
		{"UID EXPUNGE", func(tx *Tx, id int64) ([]store.Removed, error) {
			if err := setDeleted(tx, id, 2, 3, 7); err != nil {
				return nil, err
			}
			return tx.ExpungeDeleted(id, []store.UIDRange{{Start: 3, Stop: 8}})
		}, []uint32{3, 7}},
		{"MOVE source", func(tx *Tx, id int64) ([]store.Removed, error) {
			m, err := tx.MailboxByID(id)
			if err != nil {
				return nil, err
			}
			other, err := tx.CreateMailbox(m.AccountID, "Other", "", false, testNow)
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
		}, []uint32{4, 5, 6}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := openTest(t, Options{})
			_, mb := resyncFixture(t, db, 8)
			before := highestModSeq(t, db, mb.ID)
			var removed []store.Removed
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
func (tx *Tx) remove(f func(*Tx, int64) ([]store.Removed, error), id int64) ([]store.Removed, error) {
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
	var other store.Mailbox
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
			_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 1, Stop: 2}}, store.FlagsAdd, store.FlagSeen, nil)
			return err
		}, []uint32{1, 2}},
		{"add a keyword", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 2, Stop: 3}}, store.FlagsAdd, 0, []string{"$Junk"})
			return err
		}, []uint32{2, 3}},
		{"remove a keyword", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 3, Stop: 3}}, store.FlagsRemove, 0, []string{"$junk"})
			return err
		}, []uint32{3}},
		{"replace flags", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 4, Stop: 4}}, store.FlagsReplace, store.FlagFlagged, []string{"work"})
			return err
		}, []uint32{4}},
		{"remove \\Seen", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 1, Stop: 1}}, store.FlagsRemove, store.FlagSeen, nil)
			return err
		}, []uint32{1}},
		{"append", func(tx *Tx) error { return appendN(tx, mb.ID, 1) }, []uint32{5}},
		{"copy in", func(tx *Tx) error {
			_, err := tx.CopyMessages(other.ID, []store.UIDRange{{Start: 1, Stop: 2}}, mb.ID)
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
			_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 2, Stop: 2}}, store.FlagsRemove, store.FlagSeen, nil)
			return err
		}, []uint32{2}},
		{"add another keyword", func(tx *Tx) error {
			_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 3, Stop: 5}}, store.FlagsAdd, 0, []string{"later"})
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
	if got, _ := vanishedSince(t, db, mb.ID, 0); !reflect.DeepEqual(got, []store.UIDRange{{Start: 6, Stop: 7}}) {
		t.Errorf("vanished across the restart: %v, want 6:7", got)
	}
	// A STORE that changes no message leaves every message's MODSEQ
	// alone, and HIGHESTMODSEQ too: the change feed across nodes
	// (mailbox.Service) takes a MODSEQ no change was announced with for
	// another node's change.
	write(t, db, func(tx *Tx) error {
		_, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: 1, Stop: 7}}, store.FlagsRemove, store.FlagDraft, nil)
		return err
	})
	if got := changedSince(t, db, mb.ID, last, 1, 0xffffffff); len(got) != 0 {
		t.Errorf("a STORE that changed nothing changed %+v", got)
	}
	if now := highestModSeq(t, db, mb.ID); now != last {
		t.Errorf("a STORE that changed nothing moved HIGHESTMODSEQ from %d to %d", last, now)
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
	var again store.Mailbox
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
