package imap

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"pillarbox/store/storetest"
)

// searchFixture delivers messages with varied headers, bodies, sizes and
// dates, and sets flags; it returns a session with INBOX selected.
func searchFixture(t *testing.T) (*testEnv, *rawConn) {
	t.Helper()
	e := newEnv(t)
	msgs := []string{
		// 1
		"From: Alice Example <alice@example.org>\nTo: bob@example.net\nCc: carol@example.com\n" +
			"Subject: Quarterly report\nDate: Mon, 1 Jan 2024 23:30:00 -0500\nX-Priority: 1\n\n" +
			"Hello Bob, the quarterly numbers are attached.\nRegards\n",
		// 2
		"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>\nTo: alice@example.org\n" +
			"Bcc: hidden@example.org\nSubject: =?utf-8?q?=C3=9Cber_die_Stra=C3=9Fe?=\nDate: Tue, 2 Jan 2024 10:00:00 +0100\n" +
			"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
			"Grüße aus München! Das Fußballspiel war großartig.\n",
		// 3
		"From: Ελένη <eleni@example.gr>\nTo: alice@example.org\nSubject: Καλημέρα\n" +
			"Date: Wed, 3 Jan 2024 08:00:00 +0200\nContent-Type: text/html; charset=utf-8\n\n" +
			"<html><body><p>ΚΑΛΗΜΈΡΑ φίλε, <b>hello</b> from Athens</p></body></html>\n",
		// 4
		"From: bob@example.net\nTo: alice@example.org\nSubject: lunch?\n\n" +
			strings.Repeat("A long body line about nothing in particular.\n", 100),
	}
	for _, m := range msgs {
		e.deliver("alice", m)
	}
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	r.ok(`STORE 1 +FLAGS (\Seen \Answered)`)
	r.ok(`STORE 2 +FLAGS (\Flagged \Draft Work)`)
	r.ok(`STORE 3 +FLAGS (\Deleted \Seen)`)
	return e, r
}

func TestSearchKeys(t *testing.T) {
	t.Parallel()
	_, r := searchFixture(t)
	today := time.Now().UTC().Format("2-Jan-2006")
	cases := []struct{ criteria, want string }{
		{"ALL", "1 2 3 4"},
		{"1:2", "1 2"},
		{"2:*", "2 3 4"},
		{"*", "4"},
		{"UID 2,4", "2 4"},
		{"UID 3:*", "3 4"},
		{"ANSWERED", "1"}, {"UNANSWERED", "2 3 4"},
		{"DELETED", "3"}, {"UNDELETED", "1 2 4"},
		{"DRAFT", "2"}, {"UNDRAFT", "1 3 4"},
		{"FLAGGED", "2"}, {"UNFLAGGED", "1 3 4"},
		{"SEEN", "1 3"}, {"UNSEEN", "2 4"},
		{"KEYWORD work", "2"}, {"UNKEYWORD Work", "1 3 4"}, {"KEYWORD nope", ""},
		// The messages came before this session, the first to select the
		// folder: all are \Recent to it (RFC 3501 2.3.2); 2 and 4 are unseen.
		{"RECENT", "1 2 3 4"}, {"NEW", "2 4"}, {"OLD", ""},
		{"FROM alice", "1"}, {"FROM EXAMPLE.NET", "4"}, {`FROM "müller"`, "2"}, {`FROM "ΕΛΈΝΗ"`, "3"},
		{"TO bob@example", "1"}, {"CC carol", "1"}, {"BCC hidden", "2"},
		{"SUBJECT report", "1"}, {`SUBJECT "ÜBER DIE"`, "2"}, {`SUBJECT "καλημέρα"`, "3"},
		{"SUBJECT REPORT", "1"}, {"SUBJECT ort", "1"},
		{"HEADER X-Priority 1", "1"}, {`HEADER X-Priority ""`, "1"}, {`HEADER Bcc ""`, "2"},
		{"HEADER Message-ID x", ""},
		{"BODY quarterly", "1"}, {"BODY ARTERL", "1"}, {`BODY "numbers are att"`, "1"},
		{"BODY grOSSartig", ""}, {`BODY "GROẞARTIG"`, "2"}, {`BODY "fußball"`, "2"}, {`BODY "MÜNCHEN"`, "2"},
		{`BODY "καλημέρα"`, "3"}, {"BODY hello", "1 3"}, {`BODY "ello from athens"`, "3"},
		{"BODY <p>", ""}, {"BODY nothing", "4"}, {`BODY ""`, "1 2 3 4"},
		{"TEXT report", "1"}, {"TEXT athens", "3"}, {"TEXT juergen", "2"},
		{"LARGER 1000", "4"}, {"SMALLER 1000", "1 2 3"},
		{"SENTON 1-Jan-2024", "1"}, {"SENTSINCE 2-Jan-2024", "2 3"}, {"SENTBEFORE 2-Jan-2024", "1"},
		{"SENTBEFORE 1-Jan-2030", "1 2 3"},
		{"ON " + today, "1 2 3 4"}, {"SINCE " + today, "1 2 3 4"}, {"BEFORE " + today, ""},
		{"BEFORE 1-Jan-2100", "1 2 3 4"},
		{"NOT SEEN", "2 4"}, {"NOT NOT SEEN", "1 3"}, {"NOT BODY hello", "2 4"},
		{"OR FLAGGED DELETED", "2 3"}, {"OR BODY hello SUBJECT lunch", "1 3 4"},
		{"NOT SENTBEFORE 2-Jan-2024", "2 3 4"},
		{"(SEEN ANSWERED) OR 3 4", ""}, {"(SEEN ANSWERED) OR 1 4", "1"},
		{`CHARSET UTF-8 SUBJECT "über"`, "2"},
	}
	for _, tc := range cases {
		u, st := r.cmd("SEARCH " + tc.criteria)
		if !strings.HasPrefix(st, "OK") {
			t.Errorf("SEARCH %s: %s", tc.criteria, st)
			continue
		}
		got := ""
		for _, l := range u {
			if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
				got = strings.TrimSpace(rest)
			}
		}
		if got != tc.want {
			t.Errorf("SEARCH %s = %q, want %q", tc.criteria, got, tc.want)
		}
	}
	r.expect("SEARCH CHARSET KOI8-R ALL", "NO [BADCHARSET (UTF-8 US-ASCII)]")
	// Past the end names no message (TestSearchSequencePastEnd).
	contains(t, r.ok("SEARCH 9"), "* SEARCH")
	r.expect("SEARCH FOO", "BAD Unknown search key")
	r.expect("SEARCH (SEEN", "BAD")
}

func TestESearchAndSave(t *testing.T) {
	t.Parallel()
	_, r := searchFixture(t)
	contains(t, r.ok("SEARCH RETURN (MIN MAX COUNT) UNDELETED"), "* ESEARCH (TAG ", ") MIN 1 MAX 4 COUNT 3")
	contains(t, r.ok("UID SEARCH RETURN (ALL) 1:3"), ") UID ALL 1:3")
	contains(t, r.ok("SEARCH RETURN () ALL"), ") ALL 1:4")
	u := r.ok("SEARCH RETURN (COUNT) KEYWORD none")
	contains(t, u, ") COUNT 0")
	// SAVE, then $ in later commands (RFC 5182).
	r.ok("SEARCH RETURN (SAVE) OR FLAGGED ANSWERED")
	contains(t, r.ok("FETCH $ UID"), "* 1 FETCH (UID 1)")
	contains(t, r.ok("FETCH $ UID"), "* 2 FETCH (UID 2)")
	contains(t, r.ok("UID SEARCH $"), "* SEARCH 1 2")
	contains(t, r.ok("SEARCH $ SEEN"), "* SEARCH 1")
	r.ok(`STORE $ +FLAGS (Saved)`)
	contains(t, r.ok("SEARCH KEYWORD Saved"), "* SEARCH 1 2")
	// A search that matches nothing saves the empty set (RFC 5182 2.1).
	r.ok("SEARCH RETURN (SAVE) 99")
	u = r.ok("UID SEARCH $")
	contains(t, u, "* SEARCH")
	if len(u) != 1 || strings.TrimSpace(strings.TrimPrefix(u[0], "* SEARCH")) != "" {
		t.Errorf("$ after a SAVE of nothing: %q", u)
	}
	// That a failed search empties $ is checked in TestSearchLimitsRaw.

	// IMAP4rev2 clients get ESEARCH always.
	r.ok("ENABLE IMAP4rev2")
	contains(t, r.ok("SEARCH SEEN"), "* ESEARCH (TAG ", ") ALL 1,3")
}

func TestSearchWithClient(t *testing.T) {
	t.Parallel()
	e, _ := searchFixture(t)
	c := e.client("alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	d, err := c.UIDSearch(&imap.SearchCriteria{
		Body:    []string{"HELLO"},
		NotFlag: []imap.Flag{imap.FlagDeleted},
	}, &imap.SearchOptions{ReturnCount: true, ReturnAll: true, ReturnMin: true, ReturnMax: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if d.Count != 1 || d.Min != 1 || d.Max != 1 || d.All.String() != "1" {
		t.Errorf("UID SEARCH = %+v", d)
	}
}

// TestSearchTextPartHeaders: TEXT reads the header fields of a message's
// MIME parts and of an enclosed message (RFC 9051: "header (including
// MIME header fields) or body"), so an attachment's file name finds its
// message, RFC 2047 or RFC 2231 encoded; BODY and HEADER do not read
// them.
func TestSearchTextPartHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "From: bob@example.net\nTo: alice@example.org\nSubject: figures\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/mixed; boundary=\"b1\"\n\n"+
		"--b1\nContent-Type: text/plain; charset=us-ascii\n\nThe figures are attached.\n"+
		"--b1\nContent-Type: application/vnd.ms-excel; name=\"budget-2025.xls\"\n"+
		"Content-Disposition: attachment; filename=\"=?UTF-8?Q?Budg=C3=A9t-2025.xls?=\"\nContent-Transfer-Encoding: base64\n\n"+
		"AAECAwQFBgcICQ==\n"+
		"--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8''Lebenslauf%20J%C3%BCrgen.pdf\n"+
		"Content-Transfer-Encoding: base64\n\nAAECAwQFBgcICQ==\n"+
		"--b1\nContent-Type: message/rfc822\n\n"+
		"From: carol@example.com\nSubject: forwarded\nX-Mailer: Quillpad 3\n\nOld news.\n"+
		"--b1--\n")
	e.deliver("alice", "From: bob@example.net\nTo: alice@example.org\nSubject: budget-2025.xls\n\nNo attachment here.\n")
	c := e.client("alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		criteria imap.SearchCriteria
		want     string
	}{
		{"TEXT of a part's Content-Type", imap.SearchCriteria{Text: []string{"vnd.ms-excel"}}, "1"},
		{"TEXT of a decoded file name", imap.SearchCriteria{Text: []string{"BUDGÉT-2025"}}, "1"},
		{"TEXT in a header and a part header", imap.SearchCriteria{Text: []string{"budget-2025.xls"}}, "1:2"},
		{"TEXT of an enclosed message's field", imap.SearchCriteria{Text: []string{"quillpad"}}, "1"},
		{"TEXT of a file name that RFC 2231 encodes", imap.SearchCriteria{Text: []string{"lebenslauf jürgen"}}, "1"},
		{"BODY of a part header", imap.SearchCriteria{Body: []string{"vnd.ms-excel"}}, ""},
		{"HEADER of a part's field", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Content-Disposition"}}}, ""},
		{"HEADER of an enclosed message's field", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Mailer", Value: "quillpad"}}}, ""},
	} {
		d, err := c.UIDSearch(&tc.criteria, nil).Wait()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := d.All.String(); got != tc.want {
			t.Errorf("%s: UID SEARCH = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSearchTellsItsSnapshot: a message delivered while SEARCH or SORT
// runs, after its snapshot, is not in the result, and its EXISTS comes
// at the next command, not before the tagged OK: a client checking the
// result against every message it knows at that OK (imaptest's stress
// does) would find it missing.
func TestSearchTellsItsSnapshot(t *testing.T) {
	t.Parallel()
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	e := startEnv(t, storetest.New(t, pg), Options{}, true, func(s *Server) {
		s.searchHook = func() {
			if armed.Load() {
				entered <- struct{}{}
				<-release
			}
		}
	})
	e.deliver("alice", "Subject: one\n\nhello\n")
	a := e.raw("alice")
	a.ok("SELECT INBOX")
	for i, cmd := range []string{"SEARCH BODY hello", "SORT (ARRIVAL) UTF-8 BODY hello"} {
		armed.Store(true)
		tag := a.send(cmd)
		<-entered
		armed.Store(false)
		e.deliver("alice", "Subject: more\n\nhello again\n")
		release <- struct{}{}
		untagged, st := a.until(tag)
		if !strings.HasPrefix(st, "OK") {
			t.Fatalf("%s: %s", cmd, st)
		}
		for _, l := range untagged {
			if strings.HasSuffix(l, "EXISTS") {
				t.Errorf("%s: %q before its OK, for a message its result could not hold (%q)", cmd, l, untagged)
			}
		}
		contains(t, a.ok("NOOP"), fmt.Sprintf("* %d EXISTS", i+2))
	}
}
