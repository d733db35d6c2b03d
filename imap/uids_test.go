package imap

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

var fetchUIDRE = regexp.MustCompile(`^\* (\d+) FETCH \(UID (\d+)\)$`)

// seqUIDs runs a FETCH of (UID) and returns sequence number -> UID.
func (c *rawConn) seqUIDs(set string) map[uint32]uint32 {
	c.t.Helper()
	out := make(map[uint32]uint32)
	for _, l := range c.ok("FETCH " + set + " (UID)") {
		m := fetchUIDRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		seq, _ := strconv.Atoi(m[1])
		uid, _ := strconv.Atoi(m[2])
		out[uint32(seq)] = uint32(uid)
	}
	return out
}

// inboxUIDs are the UIDs the only box of the hub keeps.
func (e *testEnv) inboxUIDs() []uint32 {
	e.t.Helper()
	e.srv.hub.mu.Lock()
	defer e.srv.hub.mu.Unlock()
	for _, b := range e.srv.hub.boxes {
		b.mu.Lock()
		uids := slices.Clone(b.uids)
		b.mu.Unlock()
		return uids
	}
	return nil
}

// A session's sequence numbers come from the UIDs its folder's box keeps
// in memory while others add and expunge around it: they must be what a
// new session reads from the store.
func TestSequenceNumbersFromSharedUIDs(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 12; i++ {
		e.deliver("alice", testMessage(i))
	}
	a := e.raw("alice")
	a.ok("SELECT INBOX")
	if got := a.seqUIDs("1:*"); len(got) != 12 || got[12] != 12 {
		t.Fatalf("first FETCH: %v", got)
	}
	if uids := e.inboxUIDs(); len(uids) != 12 {
		t.Fatalf("the box did not load the UIDs: %v", uids)
	}

	b := e.raw("alice")
	b.ok("SELECT INBOX")
	for round := range 4 {
		b.ok(fmt.Sprintf("STORE %d,%d +FLAGS (\\Deleted)", 2+round, 5+round))
		b.ok("EXPUNGE")
		b.appendMsg("INBOX", "", testMessage(100+round))
		e.deliver("alice", testMessage(200+round))

		// a polls, then reads by sequence number: ranges, '*', gaps.
		a.ok("NOOP")
		fresh := e.raw("alice")
		fresh.ok("EXAMINE INBOX")
		for _, set := range []string{"1:*", "3", "2:4,7", "*", "5:*"} {
			want, got := fresh.seqUIDs(set), a.seqUIDs(set)
			if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("round %d, FETCH %s: session with the box's UIDs %v, new session %v", round, set, got, want)
			}
		}
		fresh.ok("LOGOUT")

		stored, err := storedUIDs(e, "alice@example.org", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.inboxUIDs(), stored) {
			t.Fatalf("round %d: the box keeps %v, the store has %v", round, e.inboxUIDs(), stored)
		}
	}
}

// An array of UIDs lent to a reader never changes under it, whatever the
// box does next; the box's own list follows every change.
func TestBoxUIDsLentStayPut(t *testing.T) {
	b := &box{count: 5, uids: []uint32{1, 2, 3, 4, 5}, views: map[*view]struct{}{}}
	v := &view{box: b}
	b.views[v] = struct{}{}
	lent := v.capture().uids
	before := slices.Clone(lent)

	b.mu.Lock()
	b.uidExpungedLocked(2, 2)
	b.uidAddedLocked(9)
	b.uidExpungedLocked(1, 1)
	b.mu.Unlock()
	if !slices.Equal(lent, before) {
		t.Fatalf("lent UIDs changed: %v, were %v", lent, before)
	}
	if want := []uint32{3, 4, 5, 9}; !slices.Equal(b.uids, want) {
		t.Fatalf("box UIDs %v, want %v", b.uids, want)
	}

	// A change out of step with the list (the UID at that position is
	// another) makes the box forget it rather than map wrongly.
	b.mu.Lock()
	b.uidExpungedLocked(1, 4)
	b.mu.Unlock()
	if b.uids != nil {
		t.Fatalf("box kept UIDs out of step: %v", b.uids)
	}
}

// UIDs loaded from an older snapshot are brought up to date with the
// changes logged since, before the box keeps them.
func TestInstallUIDsCatchesUp(t *testing.T) {
	b := &box{views: map[*view]struct{}{}}
	v := &view{box: b}
	b.views[v] = struct{}{}
	for _, uid := range []uint32{1, 2, 3} {
		b.count++
		b.log = append(b.log, event{kind: eventAdded, n: b.count, uid: uid})
	}
	snap := v.capture() // the reader's snapshot: version 3
	b.count++
	b.log = append(b.log, event{kind: eventAdded, n: 4, uid: 7})
	b.count--
	b.log = append(b.log, event{kind: eventExpunged, n: 1, uid: 1})

	v.installUIDs([]uint32{1, 2, 3}, snap.version)
	if want := []uint32{2, 3, 7}; !slices.Equal(b.uids, want) {
		t.Fatalf("box UIDs %v, want %v", b.uids, want)
	}
}

// The box reads the folder's UIDs only for a command that maps a number:
// a SELECT (QRESYNC ...) of an unchanged folder, which a phone sends on
// every connection, must not read 100,000 of them (it took 16 ms).
func TestUIDsReadOnlyWhenMapped(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 5; i++ {
		e.deliver("alice", testMessage(i))
	}
	a := e.raw("alice")
	a.ok("ENABLE QRESYNC")
	var uidValidity, modSeq string
	for _, l := range a.ok("SELECT INBOX") {
		if m := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(l); m != nil {
			uidValidity = m[1]
		}
		if m := regexp.MustCompile(`HIGHESTMODSEQ (\d+)`).FindStringSubmatch(l); m != nil {
			modSeq = m[1]
		}
	}
	a.ok("UNSELECT")
	a.ok("SELECT INBOX (QRESYNC (" + uidValidity + " " + modSeq + "))")
	a.ok("NOOP")
	if uids := e.inboxUIDs(); uids != nil {
		t.Fatalf("SELECT (QRESYNC) of an unchanged folder read its UIDs: %v", uids)
	}
	if got := a.seqUIDs("2"); got[2] != 2 {
		t.Fatalf("FETCH 2 (UID): %v", got)
	}
	if uids := e.inboxUIDs(); len(uids) != 5 {
		t.Fatalf("after FETCH by number the box has UIDs %v, want 5", uids)
	}
}

// A gone box (its state lost, or its folder deleted) lends no UIDs: they
// stopped following the folder, and the session ends at its next poll.
func TestGoneBoxLendsNoUIDs(t *testing.T) {
	b := &box{count: 3, uids: []uint32{1, 2, 3}, views: map[*view]struct{}{}, gone: true}
	v := &view{box: b}
	b.views[v] = struct{}{}
	if m := v.capture(); m.uids != nil || !m.gone {
		t.Fatalf("capture of a gone box: %+v", m)
	}
}
