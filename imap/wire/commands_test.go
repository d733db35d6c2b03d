package wire

import (
	"bufio"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func b(tag, name string) Base { return Base{Tag: tag, Name: name} }

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseCommands(t *testing.T) {
	t.Parallel()
	star := imap.SeqSet{{Start: 1, Stop: 0}}
	tests := []struct {
		in   string
		want Command
	}{
		{"a CAPABILITY\r\n", &Capability{b("a", "CAPABILITY")}},
		{"a noop\r\n", &Noop{b("a", "NOOP")}},
		{"a Logout\r\n", &Logout{b("a", "LOGOUT")}},
		{"a STARTTLS\r\n", &StartTLS{b("a", "STARTTLS")}},
		{"a IDLE\r\n", &Idle{b("a", "IDLE")}},
		{"a CLOSE\r\n", &Close{b("a", "CLOSE")}},
		{"a UNSELECT\r\n", &Unselect{b("a", "UNSELECT")}},
		{"a NAMESPACE\r\n", &Namespace{b("a", "NAMESPACE")}},
		{"a CHECK\r\n", &Check{b("a", "CHECK")}},
		{"a UNAUTHENTICATE\r\n", &Unauthenticate{b("a", "UNAUTHENTICATE")}},
		{"a AUTHENTICATE plain\r\n", &Authenticate{Base: b("a", "AUTHENTICATE"), Mechanism: "PLAIN"}},
		{"a AUTHENTICATE PLAIN AGEAYg==\r\n", &Authenticate{Base: b("a", "AUTHENTICATE"), Mechanism: "PLAIN",
			HasInitialResponse: true, InitialResponse: []byte("\x00a\x00b")}},
		{"a AUTHENTICATE EXTERNAL =\r\n", &Authenticate{Base: b("a", "AUTHENTICATE"), Mechanism: "EXTERNAL",
			HasInitialResponse: true, InitialResponse: []byte{}}},
		{"a1 LOGIN joe \"se\\\"c\\\\ret\"\r\n", &Login{Base: b("a1", "LOGIN"), Username: "joe", Password: `se"c\ret`}},
		{"a1 LOGIN ~ ~x\r\n", &Login{Base: b("a1", "LOGIN"), Username: "~", Password: "~x"}}, // found by FuzzWriterString
		{"a1 LOGIN {3}\r\njoe {2+}\r\npw\r\n", &Login{Base: b("a1", "LOGIN"), Username: "joe", Password: "pw"}},
		{"a ENABLE condstore UTF8=ACCEPT\r\n", &Enable{Base: b("a", "ENABLE"), Caps: []string{"CONDSTORE", "UTF8=ACCEPT"}}},
		{"a COMPRESS deflate\r\n", &Compress{Base: b("a", "COMPRESS"), Mechanism: "DEFLATE"}},
		{"a ID NIL\r\n", &ID{Base: b("a", "ID")}},
		{"a ID (\"name\" \"mutt\" \"os\" NIL)\r\n", &ID{Base: b("a", "ID"), Params: []IDParam{{Key: "name", Value: "mutt"}, {Key: "os", ValueNil: true}}}},
		{"a SELECT inbox\r\n", &Select{Base: b("a", "SELECT"), Mailbox: "INBOX"}},
		{"a EXAMINE \"Sent\" (CONDSTORE)\r\n", &Select{Base: b("a", "EXAMINE"), Mailbox: "Sent", ReadOnly: true, CondStore: true}},
		{"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n", &Select{Base: b("a", "SELECT"), Mailbox: "INBOX",
			QResync: &QResync{UIDValidity: 67890007, ModSeq: 20050715194045000, KnownUIDs: us(41, 41, 43, 211, 214, 541)}}},
		{"a SELECT INBOX (QRESYNC (1 2 (1:3 5:7)))\r\n", &Select{Base: b("a", "SELECT"), Mailbox: "INBOX",
			QResync: &QResync{UIDValidity: 1, ModSeq: 2, SeqMatch: &SeqMatch{Seqs: ss(1, 3), UIDs: us(5, 7)}}}},
		{"a SELECT INBOX (QRESYNC (1 2 1:9 (1:3 5:7)))\r\n", &Select{Base: b("a", "SELECT"), Mailbox: "INBOX",
			QResync: &QResync{UIDValidity: 1, ModSeq: 2, KnownUIDs: us(1, 9), SeqMatch: &SeqMatch{Seqs: ss(1, 3), UIDs: us(5, 7)}}}},
		{"a CREATE &ZeVnLIqe-\r\n", &Create{Base: b("a", "CREATE"), Mailbox: "日本語"}},
		{"a CREATE Arch (USE (\\Archive))\r\n", &Create{Base: b("a", "CREATE"), Mailbox: "Arch", SpecialUse: []imap.MailboxAttr{"\\Archive"}}},
		{"a DELETE foo\r\n", &Delete{MailboxArg{b("a", "DELETE"), "foo"}}},
		{"a SUBSCRIBE foo\r\n", &Subscribe{MailboxArg{b("a", "SUBSCRIBE"), "foo"}}},
		{"a UNSUBSCRIBE foo\r\n", &Unsubscribe{MailboxArg{b("a", "UNSUBSCRIBE"), "foo"}}},
		{"a GETQUOTAROOT INBOX\r\n", &GetQuotaRoot{MailboxArg{b("a", "GETQUOTAROOT"), "INBOX"}}},
		{"a RENAME a b\r\n", &Rename{Base: b("a", "RENAME"), From: "a", To: "b"}},
		{"a LIST \"\" *\r\n", &List{Base: b("a", "LIST"), Patterns: []string{"*"}}},
		{"a LIST \"\" %/x]\r\n", &List{Base: b("a", "LIST"), Patterns: []string{"%/x]"}}},
		{"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX* \"Sent\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN) SPECIAL-USE)\r\n",
			&List{Base: b("a", "LIST"), Patterns: []string{"INBOX*", "Sent"}, Extended: true, Options: imap.ListOptions{
				SelectSubscribed: true, SelectRecursiveMatch: true, ReturnChildren: true, ReturnSpecialUse: true,
				ReturnStatus: &imap.StatusOptions{NumMessages: true, NumUnseen: true}}}},
		{"a LIST \"\" % RETURN ()\r\n", &List{Base: b("a", "LIST"), Patterns: []string{"%"}, Extended: true}},
		{"a LSUB \"\" *\r\n", &Lsub{Base: b("a", "LSUB"), Pattern: "*"}},
		{"a STATUS blurdybloop (UIDNEXT MESSAGES SIZE HIGHESTMODSEQ APPENDLIMIT DELETED RECENT UIDVALIDITY UNSEEN DELETED-STORAGE MAILBOXID)\r\n",
			&Status{Base: b("a", "STATUS"), Mailbox: "blurdybloop", MailboxID: true, Options: imap.StatusOptions{UIDNext: true, NumMessages: true, Size: true,
				HighestModSeq: true, AppendLimit: true, NumDeleted: true, NumRecent: true, UIDValidity: true, NumUnseen: true, DeletedStorage: true}}},
		{"a EXPUNGE\r\n", &Expunge{Base: b("a", "EXPUNGE")}},
		{"a UID EXPUNGE 3000:3002\r\n", &Expunge{Base: b("a", "EXPUNGE"), UID: true, UIDs: us(3000, 3002)}},
		{"a UID EXPUNGE $\r\n", &Expunge{Base: b("a", "EXPUNGE"), UID: true, UIDs: imap.SearchRes()}},
		{"a COPY 2:4 MEETING\r\n", &Copy{Base: b("a", "COPY"), Set: ss(2, 4), Mailbox: "MEETING"}},
		{"a UID MOVE 4,* Trash\r\n", &Copy{Base: b("a", "MOVE"), UID: true, Set: us(4, 4, 0, 0), Mailbox: "Trash"}},
		{"a MOVE $ Trash\r\n", &Copy{Base: b("a", "MOVE"), Set: imap.SearchRes(), Mailbox: "Trash"}},
		{"a FETCH 1:* (FLAGS)\r\n", &Fetch{Base: b("a", "FETCH"), Set: star, Options: imap.FetchOptions{Flags: true}}},
		{"a FETCH *:4 ALL\r\n", &Fetch{Base: b("a", "FETCH"), Set: ss(4, 0), Options: imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true, Envelope: true}}},
		{"a FETCH 7:3 fast\r\n", &Fetch{Base: b("a", "FETCH"), Set: ss(3, 7), Options: imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true}}},
		{"a FETCH 1 FULL\r\n", &Fetch{Base: b("a", "FETCH"), Set: ss(1, 1), Options: imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{}}}},
		{"a FETCH 1 body[]\r\n", &Fetch{Base: b("a", "FETCH"), Set: ss(1, 1), Options: imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}}},
		{"a FETCH 1 (BODY BODYSTRUCTURE RFC822 RFC822.HEADER RFC822.TEXT ENVELOPE INTERNALDATE RFC822.SIZE UID MODSEQ EMAILID THREADID SAVEDATE PREVIEW (LAZY))\r\n",
			&Fetch{Base: b("a", "FETCH"), Set: ss(1, 1), RFC822: true, RFC822Header: true, RFC822Text: true, EmailID: true, ThreadID: true, SaveDate: true, Preview: true, PreviewLazy: true,
				Options: imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, Envelope: true, InternalDate: true, RFC822Size: true, UID: true, ModSeq: true}}},
		{"a UID FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From \"To\")]<0.100> BODY[3.MIME] BODY[TEXT] BODY[2] BODY.PEEK[HEADER.FIELDS.NOT (X)]) (CHANGEDSINCE 12345 VANISHED)\r\n",
			&Fetch{Base: b("a", "FETCH"), UID: true, Set: us(1, 0), Vanished: true, HasChangedSince: true, Options: imap.FetchOptions{Flags: true, UID: true, ChangedSince: 12345,
				BodySection: []*imap.FetchItemBodySection{
					{Specifier: imap.PartSpecifierHeader, Part: []int{1, 2}, HeaderFields: []string{"From", "To"}, Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: 100}},
					{Specifier: imap.PartSpecifierMIME, Part: []int{3}},
					{Specifier: imap.PartSpecifierText},
					{Part: []int{2}},
					{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"X"}, Peek: true},
				}}}},
		{"a FETCH 2 (BINARY[1]<5.10> BINARY.PEEK[] BINARY.SIZE[1.2])\r\n", &Fetch{Base: b("a", "FETCH"), Set: ss(2, 2), Options: imap.FetchOptions{
			BinarySection:     []*imap.FetchItemBinarySection{{Part: []int{1}, Partial: &imap.SectionPartial{Offset: 5, Size: 10}}, {Part: []int{}, Peek: true}},
			BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{1, 2}}}}}},
		{"a STORE 2:4 +FLAGS (\\deleted)\r\n", &Store{Base: b("a", "STORE"), Set: ss(2, 4), Flags: imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}}},
		{"a UID STORE 1 (UNCHANGEDSINCE 0) -FLAGS.SILENT \\Seen $Junk\r\n", &Store{Base: b("a", "STORE"), UID: true, Set: us(1, 1), HasUnchangedSince: true,
			Flags: imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen, "$Junk"}}}},
		{"a STORE 1 FLAGS ()\r\n", &Store{Base: b("a", "STORE"), Set: ss(1, 1), Flags: imap.StoreFlags{Flags: []imap.Flag{}}}},
		{"a SORT (REVERSE DATE subject) UTF-8 ALL\r\n", &Sort{Base: b("a", "SORT"), Keys: []SortKey{{"DATE", true}, {"SUBJECT", false}}, Charset: "UTF-8"}},
		{"a UID SORT RETURN (MIN COUNT) (ARRIVAL) us-ascii SEEN\r\n", &Sort{Base: b("a", "SORT"), UID: true, Return: &imap.SearchOptions{ReturnMin: true, ReturnCount: true},
			Keys: []SortKey{{"ARRIVAL", false}}, Charset: "US-ASCII", Criteria: SearchCriteria{SearchCriteria: imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}}}},
		{"a THREAD references UTF-8 SINCE 5-MAR-2000\r\n", &Thread{Base: b("a", "THREAD"), Algorithm: "REFERENCES", Charset: "UTF-8",
			Criteria: SearchCriteria{SearchCriteria: imap.SearchCriteria{Since: day(2000, 3, 5)}}}},
		{"a GETQUOTA \"\"\r\n", &GetQuota{Base: b("a", "GETQUOTA")}},
		{"a SETQUOTA \"\" (STORAGE 512 messages 10)\r\n", &SetQuota{Base: b("a", "SETQUOTA"), Limits: []QuotaLimit{{"STORAGE", 512}, {"MESSAGES", 10}}}},
		{"a GETMETADATA \"\" /shared/comment\r\n", &GetMetadata{Base: b("a", "GETMETADATA"), Entries: []string{"/shared/comment"}, MaxSize: -1}},
		{"a GETMETADATA (MAXSIZE 1024 DEPTH infinity) INBOX (/private/a /shared/b)\r\n", &GetMetadata{Base: b("a", "GETMETADATA"), Mailbox: "INBOX",
			Entries: []string{"/private/a", "/shared/b"}, MaxSize: 1024, Depth: -1}},
		{"a SETMETADATA INBOX (/private/comment \"My comment\" /shared/x NIL /shared/y ~{3}\r\na\x00b)\r\n", &SetMetadata{Base: b("a", "SETMETADATA"), Mailbox: "INBOX",
			Entries: []MetadataEntry{{"/private/comment", []byte("My comment")}, {"/shared/x", nil}, {"/shared/y", []byte("a\x00b")}}}},
		{"a NOTIFY NONE\r\n", &Notify{Base: b("a", "NOTIFY"), None: true}},
		{"a NOTIFY SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge)) (subtree (Lists x) (MailboxName)) (personal NONE)\r\n",
			&Notify{Base: b("a", "NOTIFY"), Status: true, Groups: []NotifyGroup{
				{Filter: "SELECTED", Events: []string{"MESSAGENEW", "MESSAGEEXPUNGE"}, NewFetch: &Fetch{Options: imap.FetchOptions{UID: true, Flags: true}}},
				{Filter: "SUBTREE", Mailboxes: []string{"Lists", "x"}, Events: []string{"MAILBOXNAME"}},
				{Filter: "PERSONAL"},
			}}},
	}
	for _, tt := range tests {
		got, err := parseOne(t, tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseSearch(t *testing.T) {
	t.Parallel()
	sc := func(c imap.SearchCriteria) SearchCriteria { return SearchCriteria{SearchCriteria: c} }
	tests := []struct {
		in   string
		want *Search
	}{
		{"ALL", &Search{}},
		{"FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"", &Search{Criteria: SearchCriteria{
			SearchCriteria: imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}, Since: day(1994, 2, 1)},
			Not:            []SearchCriteria{sc(imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "Smith"}}})}}}},
		{"CHARSET UTF-8 TEXT {6}\r\nXXXXXX", &Search{Charset: "UTF-8", Criteria: sc(imap.SearchCriteria{Text: []string{"XXXXXX"}})}},
		{"RETURN () 1:5,7", &Search{Return: &imap.SearchOptions{ReturnAll: true}, Criteria: sc(imap.SearchCriteria{SeqNum: []imap.SeqSet{ss(1, 5, 7, 7)}})}},
		{"RETURN (MIN MAX SAVE) UID 3:* $", &Search{Return: &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnSave: true},
			Criteria: sc(imap.SearchCriteria{UID: []imap.UIDSet{us(3, 0), imap.SearchRes()}})}},
		{"OR (SEEN UNANSWERED) (DRAFT UNKEYWORD $x) LARGER 100 SMALLER 200 ON 29-Feb-2000",
			&Search{Criteria: SearchCriteria{
				SearchCriteria: imap.SearchCriteria{Larger: 100, Smaller: 200, Since: day(2000, 2, 29), Before: day(2000, 3, 1)},
				Or: [][2]SearchCriteria{{
					sc(imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}, NotFlag: []imap.Flag{imap.FlagAnswered}}),
					sc(imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDraft}, NotFlag: []imap.Flag{"$x"}}),
				}}}}},
		{"NEW OLD RECENT SENTON \"1-Jan-2020\" HEADER X-Y z BODY b CC c BCC d TO e SUBJECT f KEYWORD k", &Search{Criteria: sc(imap.SearchCriteria{
			Flag: []imap.Flag{"\\Recent", "\\Recent", "k"}, NotFlag: []imap.Flag{imap.FlagSeen, "\\Recent"},
			SentSince: day(2020, 1, 1), SentBefore: day(2020, 1, 2), Body: []string{"b"},
			Header: []imap.SearchCriteriaHeaderField{hf("X-Y", "z"), hf("Cc", "c"), hf("Bcc", "d"), hf("To", "e"), hf("Subject", "f")}})}},
		{"MODSEQ \"/flags/\\\\draft\" all 620162338", &Search{Criteria: sc(imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{
			ModSeq: 620162338, MetadataName: "/flags/\\draft", MetadataType: imap.SearchCriteriaMetadataAll}})}},
		{"MODSEQ 5 SMALLER 0", &Search{Criteria: SearchCriteria{SearchCriteria: imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 5}}, Not: []SearchCriteria{{}}}}},
		{"OLDER 60 YOUNGER 3600 SAVEDATESUPPORTED SAVEDON 3-Mar-2021 EMAILID M6d99ac3275bb4e THREADID T64b478a75b7ea9",
			&Search{Criteria: SearchCriteria{Older: 60, Younger: 3600, SaveDateSupported: true, SaveDateSince: day(2021, 3, 3), SaveDateBefore: day(2021, 3, 4),
				EmailID: []string{"M6d99ac3275bb4e"}, ThreadID: []string{"T64b478a75b7ea9"}}}},
	}
	for _, tt := range tests {
		in := "t SEARCH " + tt.in + "\r\n"
		got, err := parseOne(t, in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		tt.want.Base = b("t", "SEARCH")
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", in, got, tt.want)
		}
	}
}

func TestSearchCriteriaIMAP(t *testing.T) {
	t.Parallel()
	c, _ := parseOne(t, "t SEARCH NOT OR SEEN 1:2\r\n")
	got, ok := c.(*Search).Criteria.IMAP()
	want := imap.SearchCriteria{Not: []imap.SearchCriteria{{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagSeen}}, {SeqNum: []imap.SeqSet{ss(1, 2)}}}}}}}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("IMAP() = %+v, %v; want %+v", got, ok, want)
	}
	c, _ = parseOne(t, "t SEARCH NOT YOUNGER 5\r\n")
	if _, ok := c.(*Search).Criteria.IMAP(); ok {
		t.Error("IMAP() accepted YOUNGER, which imap.SearchCriteria cannot hold")
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, tag, reason string }{
		{"\r\n", "", "Empty command"},
		{"+a NOOP\r\n", "", "Invalid tag"},
		{"a\r\n", "", "Invalid tag"},
		{"a FROBNICATE\r\n", "a", "Unknown command"},
		{"a UID NOOP\r\n", "a", "Unknown UID command"},
		{"a NOOP extra\r\n", "a", "Unexpected extra"},
		{"a LOGIN joe\r\n", "a", "Missing argument"},
		{"a LOGIN \"joe pw\r\n", "a", "Unterminated"},
		{"a LOGIN \"jo\\e\" pw\r\n", "a", "Invalid escape"},
		{"a LOGIN \"jö\" pw\r\n", "a", "8-bit"},
		{"a FETCH 0 FLAGS\r\n", "a", "Invalid sequence number 0"},
		{"a FETCH 1:0 FLAGS\r\n", "a", "Invalid sequence number 0"},
		{"a FETCH x FLAGS\r\n", "a", "Invalid sequence set"},
		{"a FETCH 1 (FLAGS\r\n", "a", "Expected ')'"},
		{"a FETCH 1 ()\r\n", "a", "Empty list"},
		{"a FETCH 1 BODY.PEEK\r\n", "a", "needs a section"},
		{"a FETCH 1 BODY[MIME]\r\n", "a", "MIME needs"},
		{"a FETCH 1 BODY[]<0.0>\r\n", "a", "must not be zero"},
		{"a FETCH 1 FOO\r\n", "a", "Unknown FETCH item"},
		{"a FETCH 1 FLAGS (VANISHED)\r\n", "a", "VANISHED requires"},
		{"a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n", "a", "VANISHED requires"},
		{"a FETCH 99999999999 FLAGS\r\n", "a", "out of range"},
		{"a CREATE &Jjo!\r\n", "a", "Invalid modified UTF-7"},
		{"a RENAME INBOX &Jjo!\r\n", "a", "Invalid modified UTF-7"},
		{"a CREATE &U,BTFw-&ZeVnLIqe-\r\n", "a", "Invalid modified UTF-7"},
		{"a CREATE \"Tom & Jerry\"\r\n", "a", "Invalid modified UTF-7"},
		{"a CREATE &AAA-\r\n", "a", "Invalid character in mailbox name"},
		{"a SELECT INBOX (QRESYNC (1 2 1:* ))\r\n", "a", "Invalid known-uids"},
		{"a SELECT INBOX (QRESYNC (1 2 (1:* 1:5)))\r\n", "a", "Invalid known-sequence-set"},
		{"a SELECT INBOX (QRESYNC (1 2 (1:5 *)))\r\n", "a", "Invalid known-uid-set"},
		{"a SELECT INBOX (FOO)\r\n", "a", "Unknown SELECT parameter"},
		{"a SELECT INBOX (QRESYNC (0 1))\r\n", "a", "must not be zero"},
		{"a SELECT INBOX (QRESYNC (1 0))\r\n", "a", "Invalid mod-sequence"},
		{"a STATUS INBOX (FOO)\r\n", "a", "Unknown status item foo"},
		{"a STATUS INBOX ()\r\n", "a", "Empty list"},
		{"a LIST (RECURSIVEMATCH) \"\" *\r\n", "a", "RECURSIVEMATCH"},
		{"a LIST \"\" * RETURN (FOO)\r\n", "a", "Unknown LIST return"},
		{"a SEARCH FOO\r\n", "a", "Unknown search key"},
		{"a SEARCH FUZZY TEXT x\r\n", "a", "FUZZY"},
		{"a SEARCH SINCE 30-Feb-2000\r\n", "a", "Invalid date"},
		{"a SEARCH SINCE 1-Foo-2000\r\n", "a", "Invalid date"},
		{"a SEARCH (SEEN\r\n", "a", "Expected ')'"},
		{"a SEARCH RETURN (PARTIAL 1:*) ALL\r\n", "a", ""},
		{"a SEARCH RETURN (PARTIAL -1:5) ALL\r\n", "a", "mixes"},
		{"a SEARCH RETURN (PARTIAL 1:5 ALL) ALL\r\n", "a", "PARTIAL and ALL"},
		{"a SEARCH\r\n", "a", "Missing argument"},
		{"a STORE 1 FLAGZ (x)\r\n", "a", "Expected FLAGS"},
		{"a SORT (FOO) UTF-8 ALL\r\n", "a", "Unknown sort key"},
		{"a SORT RETURN (SAVE) (DATE) UTF-8 ALL\r\n", "a", "SAVE not allowed"},
		{"a AUTHENTICATE PLAIN !!!\r\n", "a", "Invalid base64"},
		{"a NOTIFY SET (selected (Foo))\r\n", "a", "Unknown NOTIFY event"},
		{"a ID (\"k\" \"v\"\r\n", "a", "Expected ')'"},
		{"a LOGIN {3}\r\na\x00b pw\r\n", "a", "NUL byte"},
		{"a LOGIN ~{3}\r\n", "a", "Binary literal not allowed"},
		{"a LOGIN {3-}\r\n", "a", "Invalid literal"},
		{"a GETMETADATA INBOX /shared/*\r\n", "a", "Invalid metadata entry"},
		{"a GETMETADATA INBOX shared\r\n", "a", "Invalid metadata entry"},
		{"a GETMETADATA (DEPTH 2) INBOX /a\r\n", "a", "Invalid DEPTH"},
		{"a SETMETADATA INBOX (/a FOO)\r\n", "a", "Expected value"},
	}
	for _, tt := range tests {
		_, err := parseOne(t, tt.in)
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("%q: error %v, want *Error", tt.in, err)
			continue
		}
		if e.Tag != tt.tag || !strings.Contains(e.Reason, tt.reason) || e.Fatal || e.NO {
			t.Errorf("%q: got %+v, want tag %q reason containing %q, not fatal", tt.in, e, tt.tag, tt.reason)
		}
	}
}

func TestDepthAndItemLimits(t *testing.T) {
	t.Parallel()
	deep := "a SEARCH " + strings.Repeat("NOT ", 40) + "SEEN\r\n"
	tr := newTestReader(deep, Options{MaxDepth: 32})
	if _, err := tr.ReadCommand(); err == nil || !strings.Contains(err.Error(), "Nesting too deep") {
		t.Errorf("40 NOTs: %v, want Nesting too deep", err)
	}
	parens := "a SEARCH " + strings.Repeat("(", 40) + "SEEN" + strings.Repeat(")", 40) + "\r\n"
	tr = newTestReader(parens, Options{MaxDepth: 32})
	if _, err := tr.ReadCommand(); err == nil || !strings.Contains(err.Error(), "Nesting too deep") {
		t.Errorf("40 parentheses: %v, want Nesting too deep", err)
	}
	ok := "a SEARCH " + strings.Repeat("(", 10) + "SEEN" + strings.Repeat(")", 10) + "\r\n"
	if _, err := newTestReader(ok, Options{MaxDepth: 32}).ReadCommand(); err != nil {
		t.Errorf("10 parentheses: %v", err)
	}
	set := "a FETCH " + strings.TrimSuffix(strings.Repeat("1,", 11), ",") + " FLAGS\r\n"
	if _, err := newTestReader(set, Options{MaxItems: 10}).ReadCommand(); err == nil || !strings.Contains(err.Error(), "Sequence set too long") {
		t.Errorf("11 ranges with MaxItems 10: %v", err)
	}
	keys := "a SEARCH " + strings.TrimSuffix(strings.Repeat("SEEN ", 11), " ") + "\r\n"
	if _, err := newTestReader(keys, Options{MaxItems: 10}).ReadCommand(); err == nil || !strings.Contains(err.Error(), "Too many search keys") {
		t.Errorf("11 keys with MaxItems 10: %v", err)
	}
}

// DeepEqual cannot tell imap.SearchRes() from an empty set: check "$"
// explicitly where it is allowed.
func TestSearchResDollar(t *testing.T) {
	t.Parallel()
	for in, get := range map[string]func(Command) imap.NumSet{
		"a UID EXPUNGE $\r\n":     func(c Command) imap.NumSet { return c.(*Expunge).UIDs },
		"a MOVE $ Trash\r\n":      func(c Command) imap.NumSet { return c.(*Copy).Set },
		"a UID FETCH $ FLAGS\r\n": func(c Command) imap.NumSet { return c.(*Fetch).Set },
		"a STORE $ +FLAGS x\r\n":  func(c Command) imap.NumSet { return c.(*Store).Set },
		"a SEARCH UID $\r\n":      func(c Command) imap.NumSet { return c.(*Search).Criteria.UID[0] },
		"a SEARCH $\r\n":          func(c Command) imap.NumSet { return c.(*Search).Criteria.UID[0] },
	} {
		c, err := parseOne(t, in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if !imap.IsSearchRes(get(c)) {
			t.Errorf("%q: set is not imap.SearchRes()", in)
		}
	}
}

// TestInvalidUTF7LookedUp: a name that is not valid modified UTF-7 is
// taken as it is where it is only looked up (SELECT answers NO, LIST
// nothing, as imaptest's atoms test wants of Dovecot), and refused where
// a mailbox would be made with it.
func TestInvalidUTF7LookedUp(t *testing.T) {
	for _, line := range []string{"a SELECT &Jjo!\r\n", `a LIST "" &Jjo%` + "\r\n", "a STATUS &Jjo (MESSAGES)\r\n"} {
		r := NewReader(bufio.NewReader(strings.NewReader(line)), func() error { return nil }, Options{})
		cmd, err := r.ReadCommand()
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		var name string
		switch c := cmd.(type) {
		case *Select:
			name = c.Mailbox
		case *List:
			name = c.Patterns[0]
		case *Status:
			name = c.Mailbox
		}
		if !strings.HasPrefix(name, "&Jjo") {
			t.Errorf("%q: name %q, want it as sent", line, name)
		}
	}
}

// TestNotifyMessageNewThenEvents: MessageNew followed by another event is
// not a fetch-att list (imaptest's notify test; the parser wanted "(").
func TestNotifyMessageNewThenEvents(t *testing.T) {
	for _, line := range []string{
		"a NOTIFY SET (MAILBOXES x (MessageNew MessageExpunge FlagChange))\r\n",
		"a NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge)) (PERSONAL (MessageNew))\r\n",
	} {
		r := NewReader(bufio.NewReader(strings.NewReader(line)), func() error { return nil }, Options{})
		cmd, err := r.ReadCommand()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		n := cmd.(*Notify)
		if got := n.Groups[0].Events; len(got) < 2 || got[0] != "MESSAGENEW" || got[1] != "MESSAGEEXPUNGE" {
			t.Errorf("%q: events %q", line, got)
		}
	}
}

// TestSaveDateKeys: RFC 8514's search keys are SAVEDBEFORE, SAVEDON and
// SAVEDSINCE (the parser had them as SAVEDATEBEFORE and so on).
func TestSaveDateKeys(t *testing.T) {
	for _, tc := range []struct {
		line          string
		since, before string
	}{
		{"a SEARCH SAVEDSINCE 1-Feb-2024\r\n", "2024-02-01", ""},
		{"a SEARCH SAVEDBEFORE 1-Feb-2024\r\n", "", "2024-02-01"},
		{"a SEARCH SAVEDON 1-Feb-2024\r\n", "2024-02-01", "2024-02-02"},
	} {
		r := NewReader(bufio.NewReader(strings.NewReader(tc.line)), func() error { return nil }, Options{})
		cmd, err := r.ReadCommand()
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		c := cmd.(*Search).Criteria
		day := func(d time.Time) string {
			if d.IsZero() {
				return ""
			}
			return d.Format(time.DateOnly)
		}
		if day(c.SaveDateSince) != tc.since || day(c.SaveDateBefore) != tc.before {
			t.Errorf("%q: since %q before %q", tc.line, day(c.SaveDateSince), day(c.SaveDateBefore))
		}
	}
}
