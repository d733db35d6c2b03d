package imap

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 4; i++ {
		e.deliver("alice", testMessage(i))
	}
	c := e.client("alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd,
		Flags: []imap.Flag{`\SEEN`, `\answered`, "Work", "$Label1"}}, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || !slices.Equal(msgs[0].Flags, []imap.Flag{imap.FlagSeen, imap.FlagAnswered, "Work", "$Label1", flagRecent}) {
		t.Fatalf("STORE +FLAGS answered %+v", msgs)
	}
	msgs, err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsDel,
		Flags: []imap.Flag{`\Answered`, "work"}}, nil).Collect()
	if err != nil || !slices.Equal(msgs[0].Flags, []imap.Flag{imap.FlagSeen, "$Label1", flagRecent}) {
		t.Fatalf("STORE -FLAGS: %+v %v", msgs, err)
	}
	msgs, err = c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsSet,
		Flags: []imap.Flag{imap.FlagDraft, "Other"}}, nil).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 3 || !slices.Equal(msgs[0].Flags, []imap.Flag{imap.FlagDraft, "Other", flagRecent}) {
		t.Fatalf("UID STORE FLAGS: %+v %v", msgs, err)
	}
	msgs, err = c.Store(imap.SeqSetNum(4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
		Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
	if err != nil || len(msgs) != 0 {
		t.Fatalf("STORE .SILENT answered %+v %v", msgs, err)
	}
	all, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]imap.Flag{{imap.FlagSeen, "$Label1", flagRecent}, {imap.FlagSeen, imap.FlagAnswered, "Work", "$Label1", flagRecent},
		{imap.FlagDraft, "Other", flagRecent}, {imap.FlagFlagged, flagRecent}}
	for i, m := range all {
		if !slices.Equal(m.Flags, want[i]) {
			t.Errorf("message %d: FLAGS %q, want %q", i+1, m.Flags, want[i])
		}
	}
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	r.expect(`STORE 1 +FLAGS (\Bogus)`, "BAD")
	r.expect(`STORE 9 +FLAGS (\Seen)`, "BAD")
	r.expect(`STORE 1 +FLAGS (\Recent)`, "OK")
	if u := r.ok(`STORE 1:* -FLAGS.SILENT (\Seen)`); len(u) != 0 {
		t.Errorf("STORE .SILENT wrote %q", u)
	}
}

func TestCopyMove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 5; i++ {
		e.deliver("alice", testMessage(i))
	}
	c := e.client("alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "Kw"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	blobs, _ := e.db.CountBlobs(t.Context())
	cd, err := c.Copy(imap.SeqSet{{Start: 2, Stop: 3}}, "Archive").Wait()
	if err != nil {
		t.Fatalf("COPY: %v", err)
	}
	st, _ := c.Status("Archive", &imap.StatusOptions{UIDValidity: true, NumMessages: true}).Wait()
	if cd.UIDValidity != st.UIDValidity || cd.SourceUIDs.String() != "2:3" || cd.DestUIDs.String() != "1:2" || *st.NumMessages != 2 {
		t.Errorf("COPYUID %v %v %v, Archive %+v", cd.UIDValidity, cd.SourceUIDs, cd.DestUIDs, st)
	}
	if n, _ := e.db.CountBlobs(t.Context()); n != blobs {
		t.Errorf("COPY made %d blobs, want the %d shared", n, blobs)
	}
	md, err := c.Move(imap.UIDSetNum(1, 4), "Trash").Wait()
	if err != nil {
		t.Fatalf("MOVE: %v", err)
	}
	if md.SourceUIDs.String() != "1,4" || md.DestUIDs.String() != "1:2" {
		t.Errorf("MOVE COPYUID %v → %v", md.SourceUIDs, md.DestUIDs)
	}
	if n := c.Mailbox().NumMessages; n != 3 {
		t.Errorf("after MOVE the client counts %d messages, want 3", n)
	}
	uids, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil || !slices.Equal(uids.AllUIDs(), []imap.UID{2, 3, 5}) {
		t.Errorf("INBOX after MOVE: %v %v", uids.AllUIDs(), err)
	}
	if _, err := c.Select("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, Envelope: true})
	// The copy came while no session had Archive selected: \Recent to
	// the first that selects it.
	if !slices.Equal(m.Flags, []imap.Flag{imap.FlagFlagged, "Kw", flagRecent}) || m.Envelope.Subject != "message 2" {
		t.Errorf("copied message: %q %q", m.Flags, m.Envelope.Subject)
	}

	r := e.raw("alice")
	r.ok("SELECT INBOX")
	r.expect("COPY 1 Nowhere", "NO [TRYCREATE]")
	r.expect("MOVE 1 Nowhere", "NO [TRYCREATE]")
	u := r.ok("MOVE 1 Junk")
	contains(t, u, "* OK [COPYUID ")
	contains(t, u, "* 1 EXPUNGE")
	u = r.ok("UID MOVE 3 INBOX")
	// Into the same folder: the copy is added, then the original goes;
	// the count comes last, as Dovecot sends it (imaptest's move test).
	if !slices.Equal(u[1:], []string{"* 1 EXPUNGE", "* 2 EXISTS", "* 1 RECENT"}) || !strings.HasPrefix(u[0], "* OK [COPYUID ") || !strings.Contains(u[0], " 3 6] ") {
		t.Errorf("UID MOVE 3 INBOX: %q", u)
	}
}

func TestExpunge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 1; i <= 6; i++ {
		e.deliver("alice", testMessage(i))
	}
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	r.ok(`STORE 2,4,5 +FLAGS (\Deleted)`)
	u := r.ok("EXPUNGE")
	// Highest first, each number valid when it is read (RFC 9051 7.5.1).
	if want := []string{"* 5 EXPUNGE", "* 4 EXPUNGE", "* 2 EXPUNGE"}; !slices.Equal(u, want) {
		t.Errorf("EXPUNGE: %q, want %q", u, want)
	}
	r.ok(`STORE 1:3 +FLAGS (\Deleted)`)
	u = r.ok("UID EXPUNGE 3:6")
	if want := []string{"* 3 EXPUNGE", "* 2 EXPUNGE"}; !slices.Equal(u, want) {
		t.Errorf("UID EXPUNGE: %q, want %q", u, want)
	}
	contains(t, r.ok("UID SEARCH ALL"), "* SEARCH 1")
	// UID EXPUNGE never removes what it was not given.
	contains(t, r.ok("FETCH 1 (UID FLAGS)"), `UID 1 FLAGS (\Deleted \Recent)`)
	// CLOSE expunges silently.
	u = r.ok("CLOSE")
	if len(u) != 0 {
		t.Errorf("CLOSE wrote %q", u)
	}
	contains(t, r.ok("STATUS INBOX (MESSAGES)"), "MESSAGES 0")
	r.expect("FETCH 1 FLAGS", "BAD")

	// UNSELECT does not expunge.
	e.deliver("alice", testMessage(7))
	c := e.client("alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); *st.NumMessages != 1 {
		t.Errorf("UNSELECT expunged")
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if d, err := c.Expunge().Collect(); err != nil || !slices.Equal(d, []uint32{1}) {
		t.Errorf("imapclient EXPUNGE: %v %v", d, err)
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatal(err)
	}
	// UIDs are never reused.
	e.deliver("alice", testMessage(8))
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{UID: true})
	if m.UID != 8 {
		t.Errorf("UID after expunges %d, want 8", m.UID)
	}
}

func TestSequenceErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	// Empty mailbox: '*' names nothing, a number is out of range.
	r.ok("FETCH 1:* FLAGS")
	r.ok("UID FETCH 1:* FLAGS")
	r.expect("FETCH 1 FLAGS", "BAD")
	r.ok("SEARCH ALL")
	e.deliver("alice", testMessage(1))
	e.deliver("alice", testMessage(2))
	// The client does not know the new messages until told.
	u := r.ok("FETCH * UID")
	if !slices.Equal(u, []string{"* 2 EXISTS", "* 2 RECENT"}) {
		t.Errorf("FETCH * before the EXISTS: %q", u)
	}
	u = r.ok("FETCH * UID")
	contains(t, u, "* 2 FETCH (UID 2)")
	r.expect("FETCH 3 FLAGS", "BAD")
	// The library parses these itself and answers NO [SERVERBUG].
	for _, bad := range []string{"FETCH 0 FLAGS", "FETCH 1:4294967296 FLAGS", "FETCH 1:x FLAGS", "FETCH (1 FLAGS"} {
		if _, st := r.cmd(bad); !strings.HasPrefix(st, "BAD") && !strings.HasPrefix(st, "NO") {
			t.Errorf("%s: %s", bad, st)
		}
	}
	contains(t, r.ok("UID FETCH 9:* UID"), "* 2 FETCH (UID 2)")
	r.ok("UID FETCH 99 UID")
}
