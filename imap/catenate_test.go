package imap

import (
	"fmt"
	"pillarbox/store/storetest"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// catSource is a multipart message whose sections the CATENATE tests
// take apart.
var catSource = crlf(`From: Sender <sender@example.net>
To: alice@example.org
Subject: source
Message-ID: <src@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

first part
--b
Content-Type: message/rfc822

Subject: inner

inner body
--b--
`)

// catEnv is a server with catSource in alice's INBOX (UID 1) and a
// session of alice's, with an AppendLimit of limit (0: the default).
func catEnv(t *testing.T, limit int64) (*testEnv, *rawConn, string) {
	t.Helper()
	e := newEnvAt(t, storetest.New(t, pg), Options{AppendLimit: limit}, true)
	e.deliver("alice", catSource)
	c := e.raw("alice")
	u := c.ok("STATUS INBOX (UIDVALIDITY)")
	var validity string
	for _, l := range u {
		if _, v, ok := strings.Cut(l, "UIDVALIDITY "); ok {
			validity = strings.TrimRight(v, ")")
		}
	}
	if validity == "" {
		t.Fatalf("no UIDVALIDITY in %q", u)
	}
	return e, c, validity
}

// body returns BINARY[] (all its octets, NUL included) of the message with UID uid in mbox.
func (c *rawConn) body(mbox string, uid int) string {
	c.t.Helper()
	c.ok("EXAMINE " + mbox)
	u := c.ok("UID FETCH " + itoa(uid) + " BINARY.PEEK[]")
	c.ok("CLOSE")
	for _, l := range u {
		if _, b, ok := strings.Cut(l, "BINARY[] "); ok {
			_, b, _ = strings.Cut(b, "}\r\n")
			return strings.TrimSuffix(b, ")")
		}
	}
	c.t.Fatalf("no BODY[] for UID %d in %q", uid, u)
	return ""
}

// CATENATE (RFC 4469) builds a message from TEXT parts and URL parts
// naming messages and sections in the account, in every URL form the
// RFC allows here; sections read as BODY[section] does (RFC 5092).
func TestCatenate(t *testing.T) {
	t.Parallel()
	_, c, v := catEnv(t, 0)
	header := catSource[:strings.Index(catSource, "\r\n\r\n")+4]
	tests := []struct {
		name  string
		parts []any
		want  string
	}{
		{"whole message, absolute path", []any{` Drafts CATENATE (URL "/INBOX/;UID=1")`}, catSource},
		{"header and text", []any{` Drafts (\Seen) CATENATE (URL "/INBOX;UIDVALIDITY=` + v + `/;UID=1/;SECTION=HEADER" TEXT `, lit{data: "new body\r\n"}, ")"},
			header + "new body\r\n"},
		{"text parts around a section, lower case", []any{` Drafts CATENATE (TEXT `, lit{data: "Subject: built\r\n\r\n"}, ` url "/inbox/;uid=1/;section=1" TEXT `, lit{data: "\r\nend\r\n", nonSync: true}, ")"},
			"Subject: built\r\n\r\nfirst part\r\nend\r\n"},
		{"enclosed message's header, absolute URL with user", []any{` Drafts CATENATE (URL "imap://alice%40example.org@localhost/INBOX/;UID=1/;SECTION=2.HEADER" TEXT `, lit{data: "x\r\n"}, ")"},
			"Subject: inner\r\n\r\nx\r\n"},
		{"MIME header and fields, escaped", []any{` Drafts CATENATE (URL "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT%20TO)" URL "/INBOX/;UID=1/;SECTION=1.MIME" TEXT `, lit{data: "z\r\n"}, ")"},
			"To: alice@example.org\r\nSubject: source\r\n\r\nContent-Type: text/plain\r\n\r\nz\r\n"},
		{"partial ranges", []any{` Drafts CATENATE (URL "/INBOX/;UID=1/;SECTION=1/;PARTIAL=0.5" URL "/INBOX/;UID=1/;PARTIAL=100000.1" URL "/INBOX/;UID=1/;SECTION=2.TEXT/;PARTIAL=6" TEXT `, lit{data: ":\r\n\r\nx\r\n"}, ")"},
			"firstbody:\r\n\r\nx\r\n"},
		{"literal8 TEXT", []any{` Drafts CATENATE (TEXT `, lit{data: "Subject: bin\r\n\r\n\x00\x01\r\n", binary: true}, ")"},
			"Subject: bin\r\n\r\n\x00\x01\r\n"},
	}
	for i, tt := range tests {
		_, st := c.appendParts(tt.parts...)
		wantStatus(t, tt.name, st, "OK [APPENDUID ")
		if !strings.HasSuffix(strings.SplitN(st, "]", 2)[0], " "+itoa(i+1)) {
			t.Fatalf("%s: %q, want UID %d", tt.name, st, i+1)
		}
		if got := c.body("Drafts", i+1); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
	// Relative to the selected mailbox.
	c.ok("SELECT INBOX")
	_, st := c.appendParts(` Drafts CATENATE (URL ";UID=1/;SECTION=2.TEXT" TEXT `, lit{data: "!\r\n"}, ")")
	wantStatus(t, "relative URL", st, "OK [APPENDUID ")
	if got := c.body("Drafts", len(tests)+1); got != "inner body!\r\n" {
		t.Errorf("relative URL: %q", got)
	}
}

// A URL that names nothing the account can read is NO [BADURL url]
// (RFC 4469 5), one that makes the message too large NO [TOOBIG], and
// in a MULTIAPPEND nothing is stored; the connection goes on.
func TestCatenateRefused(t *testing.T) {
	t.Parallel()
	e, c, v := catEnv(t, 2000)
	e.deliver("bob", testMessage(9))
	other := "1" + v // another UIDVALIDITY
	for _, url := range []string{
		"/INBOX;UIDVALIDITY=" + other + "/;UID=1",
		"/INBOX/;UID=2",
		"/Nowhere/;UID=1",
		"/INBOX/;UID=0",
		"/INBOX/;UID=1/;SECTION=9",
		"/INBOX/;UID=1/;SECTION=1.HEADER",
		"/INBOX/;UID=1/;SECTION=1]",
		"/INBOX/;UID=1/;URLAUTH=anonymous",
		"/INBOX?SUBJECT%20x",
		"imap://bob%40example.org@localhost/INBOX/;UID=1",
		";UID=1", // nothing selected
		"/;UID=1",
		"http://example.org/",
	} {
		_, st := c.appendParts(` Drafts CATENATE (TEXT `, lit{data: "a: b\r\n\r\n"}, ` URL "`+url+`" TEXT `, lit{data: "c\r\n", nonSync: true}, ")")
		want := "NO [BADURL " + strings.ReplaceAll(url, "]", "%5D") + "]"
		if !strings.HasPrefix(st, want) {
			t.Errorf("%s: %q, want %q...", url, st, want)
		}
	}
	// In a MULTIAPPEND, the second message's bad URL stores nothing.
	_, st := c.appendParts(" Drafts ", lit{data: testMessage(1)}, ` CATENATE (URL "/INBOX/;UID=7")`)
	wantStatus(t, "bad URL in the second message", st, "NO [BADURL /INBOX/;UID=7]")
	// Too large: the message is 2000 octets at most.
	_, st = c.appendParts(` Drafts CATENATE (URL "/INBOX/;UID=1" TEXT `, lit{data: strings.Repeat("x", 2000-len(catSource)) + "\r\n"}, ")")
	wantStatus(t, "TEXT past the limit", st, "NO [TOOBIG]")
	_, st = c.appendParts(` Drafts CATENATE (` + strings.Repeat(`URL "/INBOX/;UID=1" `, 2000/len(catSource)) + `URL "/INBOX/;UID=1")`)
	wantStatus(t, "URLs past the limit", st, "NO [TOOBIG]")
	_, st = c.appendParts(` Drafts CATENATE (URL "/INBOX/;UID=1/;SECTION=1/;PARTIAL=0.0")`)
	wantStatus(t, "zero-length partial", st, "NO [BADURL")
	_, st = c.appendParts(` Drafts CATENATE (URL "/INBOX/;UID=1/;PARTIAL=100000")`)
	wantStatus(t, "nothing but an empty range", st, "NO")
	_, st = c.appendParts(` Nowhere CATENATE (URL "/INBOX/;UID=1")`)
	wantStatus(t, "no such destination", st, "NO [TRYCREATE]")
	// The folder comes first even when the first line ends in a TEXT part
	// sent without waiting, and a later URL is bad (imaptest catenate
	// 27/29).
	_, st = c.appendParts(` Nowhere CATENATE (TEXT `, lit{data: "a: b\r\n", nonSync: true}, ` URL "/INBOX;UIDVALIDITY=12345/;UID=1")`)
	wantStatus(t, "no such destination, LITERAL+", st, "NO [TRYCREATE]")
	_, st = c.appendParts(` Drafts CATENATE ()`)
	wantStatus(t, "no parts", st, "BAD")
	if got := c.folderState("Drafts"); got != "MESSAGES 0 UIDNEXT 1" {
		t.Fatalf("after refused CATENATEs: %s", got)
	}
	// CATENATE and literals mixed in one MULTIAPPEND (RFC 4469 4).
	_, st = c.appendParts(` Drafts CATENATE (URL "/INBOX/;UID=1/;SECTION=2.TEXT") `, lit{data: testMessage(2)}, ` (\Seen) CATENATE (TEXT `, lit{data: "s: t\r\n\r\nu\r\n"}, ")")
	wantStatus(t, "CATENATE and literals", st, "OK [APPENDUID ")
	if !strings.Contains(st, " 1:3]") {
		t.Fatalf("APPENDUID %q", st)
	}
	if got := c.body("Drafts", 1); got != "inner body" {
		t.Fatalf("first message %q", got)
	}
}

// The URL forms of RFC 5092 that name a message or a part of one.
func TestParseCatURL(t *testing.T) {
	t.Parallel()
	const user = "alice@example.org"
	for raw, want := range map[string]string{
		"imap://localhost/INBOX/;UID=1":                          "INBOX 0 1  <nil>",
		"IMAP://Alice%40Example.org;AUTH=*@h:143/a%2Fb/;UID=20":  "a/b 0 20  <nil>",
		"//h/INBOX;UIDVALIDITY=7/;UID=3/;SECTION=1.2/;PARTIAL=5": "INBOX 7 3 1.2 &{5 0}",
		"Sent%20Items/;uid=4/;section=header/;partial=0.10":      "Sent Items 0 4 header &{0 10}",
		";UID=9/;SECTION=TEXT":                                   " 0 9 TEXT <nil>",
		"/%C3%A9t%C3%A9/;UID=2":                                  "été 0 2  <nil>",
		"imap://bob%40example.org@h/INBOX/;UID=1":                "invalid",
		"imap:/INBOX/;UID=1":                                     "invalid",
		"/INBOX;UIDVALIDITY=0/;UID=1":                            "invalid",
		"/INBOX/;UID=01":                                         "invalid",
		"/INBOX/;UID=4294967296":                                 "invalid",
		"/INBOX/;UID=1/;PARTIAL=x":                               "invalid",
		"/INBOX/;UID=1/;SECTION=":                                "invalid",
		"/INBOX/;UID=1/;EXPIRE=2030-01-01T00:00:00Z":             "invalid",
		"/INBOX/;SECTION=1/;UID=1":                               "invalid",
		"/INBOX;UID=1":                                           "invalid",
		"/IN%ZZBOX/;UID=1":                                       "invalid",
	} {
		u, ok := parseCatURL(raw, user)
		got := "invalid"
		if ok {
			got = fmt.Sprintf("%s %d %d %s %v", u.mailbox, u.uidValidity, u.uid, u.section, u.partial)
		}
		if got != want {
			t.Errorf("%s: %q, want %q", raw, got, want)
		}
	}
}

// FuzzCatURL: no URL makes the parsers panic, and a parsed URL always
// names a UID; a section, if any, parses as FETCH's would or is refused.
func FuzzCatURL(f *testing.F) {
	for _, s := range []string{"/INBOX;UIDVALIDITY=7/;UID=3/;SECTION=1.2.MIME/;PARTIAL=5.10", ";UID=1",
		"imap://a%40b@h/x/;UID=1/;SECTION=HEADER.FIELDS%20(A%20B)", "/INBOX/;UID=1/;SECTION=1]%20ENVELOPE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, ok := parseCatURL(raw, "alice@example.org")
		if !ok {
			return
		}
		if u.uid == 0 {
			t.Fatalf("%q: UID 0 accepted", raw)
		}
		if u.section != "" {
			parseURLSection(u.section)
		}
	})
}

// The BADURL code holds only what resp-text-code allows there (RFC 4469
// url-resp-text: no ']', no control octets), whatever the URL.
func TestBadURLCode(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "/a]b", "/a\r\nb", "/\x00\xff é", strings.Repeat("/x", 5000)} {
		code := string(badURL(raw, "x").(*imap.Error).Code)
		url, ok := strings.CutPrefix(code, "BADURL ")
		if !ok || url == "" || len(url) > 3*1024 {
			t.Errorf("%q: code %q", raw, code)
		}
		for i := 0; i < len(url); i++ {
			if c := url[i]; c <= ' ' || c == ']' || c >= 0x7f {
				t.Errorf("%q: octet %#x in %q", raw, c, code)
				break
			}
		}
	}
}
