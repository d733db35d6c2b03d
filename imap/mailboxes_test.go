package imap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"pillarbox/mailbox"
	"pillarbox/store/sqlite"
)

// listNames returns the names LIST gives for a pattern, with attributes.
func listNames(t *testing.T, c *imapclient.Client, ref, pattern string, o *imap.ListOptions) map[string][]imap.MailboxAttr {
	t.Helper()
	l, err := c.List(ref, pattern, o).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q: %v", ref, pattern, err)
	}
	out := make(map[string][]imap.MailboxAttr)
	for _, d := range l {
		out[d.Mailbox] = d.Attrs
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func wantNames(t *testing.T, what string, got map[string][]imap.MailboxAttr, want ...string) {
	t.Helper()
	slices.Sort(want)
	if g := keys(got); !slices.Equal(g, want) {
		t.Errorf("%s: got %q, want %q", what, g, want)
	}
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	return slices.ContainsFunc(attrs, func(x imap.MailboxAttr) bool { return strings.EqualFold(string(x), string(a)) })
}

func mustCode(t *testing.T, what string, err error, code imap.ResponseCode) {
	t.Helper()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != code {
		t.Fatalf("%s: got %v, want NO [%s]", what, err, code)
	}
}

func TestListPatterns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	for _, n := range []string{"Work/Projects/X", "Private", "Work/Old"} {
		if err := c.Create(n, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", n, err)
		}
	}
	defaults := []string{"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"}
	all := listNames(t, c, "", "*", nil)
	wantNames(t, `LIST "" *`, all, append(defaults, "Private", "Work", "Work/Projects", "Work/Projects/X", "Work/Old")...)
	if !hasAttr(all["Work"], imap.MailboxAttrHasChildren) || !hasAttr(all["Private"], imap.MailboxAttrHasNoChildren) {
		t.Errorf("children attributes: Work %v, Private %v", all["Work"], all["Private"])
	}
	if !hasAttr(all["Sent"], imap.MailboxAttrSent) || !hasAttr(all["Trash"], imap.MailboxAttrTrash) {
		t.Errorf("special use: Sent %v, Trash %v", all["Sent"], all["Trash"])
	}
	wantNames(t, `LIST "" %`, listNames(t, c, "", "%", nil), append(defaults, "Private", "Work")...)
	wantNames(t, `LIST "" Work/%`, listNames(t, c, "", "Work/%", nil), "Work/Projects", "Work/Old")
	wantNames(t, `LIST Work/ %`, listNames(t, c, "Work/", "%", nil), "Work/Projects", "Work/Old")
	wantNames(t, `LIST "" W*s`, listNames(t, c, "", "W*s", nil), "Work/Projects")
	wantNames(t, `LIST "" inbox`, listNames(t, c, "", "inbox", nil), "INBOX")
	wantNames(t, `LIST "" nothing`, listNames(t, c, "", "nothing", nil))

	// LIST "" "" gives the delimiter.
	r := e.raw("alice")
	contains(t, r.ok(`LIST "" ""`), `* LIST (\Noselect) "/" ""`)

	// Selection and return options (RFC 5258, 6154, 5819).
	su := listNames(t, c, "", "*", &imap.ListOptions{SelectSpecialUse: true})
	wantNames(t, "LIST (SPECIAL-USE)", su, "Drafts", "Sent", "Trash", "Junk", "Archive")
	if err := c.Unsubscribe("Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("Work/Old").Wait(); err != nil {
		t.Fatal(err)
	}
	sub := listNames(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})
	wantNames(t, "LIST (SUBSCRIBED)", sub, "INBOX", "Drafts", "Sent", "Trash", "Archive", "Work/Old")
	for n, attrs := range sub {
		if !hasAttr(attrs, imap.MailboxAttrSubscribed) {
			t.Errorf("LIST (SUBSCRIBED): %s lacks \\Subscribed: %v", n, attrs)
		}
	}
	u := r.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`)
	contains(t, u, `"Work"`, `("CHILDINFO" ("SUBSCRIBED"))`)
	u = r.ok(`LSUB "" "*"`)
	contains(t, u, `* LSUB`, `"Work/Old"`)
	for _, l := range u {
		if strings.Contains(l, "Junk") {
			t.Errorf("LSUB shows unsubscribed Junk: %q", l)
		}
	}

	e.deliver("alice", testMessage(1))
	u = r.ok(`LIST "" "*" RETURN (SPECIAL-USE CHILDREN SUBSCRIBED STATUS (MESSAGES UNSEEN UIDNEXT SIZE))`)
	contains(t, u, `* LIST (\HasNoChildren \Subscribed) "/" INBOX`)
	contains(t, u, `* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UNSEEN 1 SIZE `)
	contains(t, u, `* LIST (\HasNoChildren \Subscribed \Sent) "/" "Sent"`)
	contains(t, u, `* STATUS "Sent" (MESSAGES 0 UIDNEXT 1 UNSEEN 0 SIZE 0)`)
}

func TestCreateDeleteRename(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")

	if err := c.Create("Receipts", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrArchive}}).Wait(); err != nil {
		t.Fatalf("CREATE (USE (\\Archive)): %v", err)
	}
	if !hasAttr(listNames(t, c, "", "Receipts", nil)["Receipts"], imap.MailboxAttrArchive) {
		t.Error("CREATE with USE: no \\Archive")
	}
	mustCode(t, "CREATE (USE (\\All))", c.Create("Everything", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrAll}}).Wait(), codeUseAttr)
	mustCode(t, "CREATE existing", c.Create("Receipts", nil).Wait(), imap.ResponseCodeAlreadyExists)
	mustCode(t, "CREATE inbox", c.Create("inbox", nil).Wait(), imap.ResponseCodeAlreadyExists)
	if err := c.Create("a/b/c/", nil).Wait(); err != nil {
		t.Fatalf("CREATE a/b/c/: %v", err)
	}
	wantNames(t, "after CREATE a/b/c", listNames(t, c, "", "a*", nil), "a", "a/b", "a/b/c")

	mustCode(t, "DELETE INBOX", c.Delete("INBOX").Wait(), imap.ResponseCodeCannot)
	mustCode(t, "DELETE missing", c.Delete("missing").Wait(), imap.ResponseCodeNonExistent)
	// Deleting a folder with children keeps them (RFC 9051 6.3.5); the
	// level shows as \Noselect.
	if err := c.Delete("a").Wait(); err != nil {
		t.Fatalf("DELETE a: %v", err)
	}
	l := listNames(t, c, "", "%", nil)
	if !hasAttr(l["a"], imap.MailboxAttrNoSelect) || !hasAttr(l["a"], imap.MailboxAttrHasChildren) {
		t.Errorf(`LIST "" %%: a is %v, want \Noselect \HasChildren`, l["a"])
	}
	wantNames(t, "after DELETE a", listNames(t, c, "", "a*", nil), "a/b", "a/b/c")
	_, err := c.Select("a", nil).Wait()
	mustCode(t, "SELECT deleted", err, imap.ResponseCodeNonExistent)

	// RENAME moves children; the UIDVALIDITY of a renamed folder stays.
	st, err := c.Status("a/b", &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("a/b", "x/y", nil).Wait(); err != nil {
		t.Fatalf("RENAME: %v", err)
	}
	wantNames(t, "after RENAME", listNames(t, c, "", "x*", nil), "x", "x/y", "x/y/c")
	st2, err := c.Status("x/y", &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil || st2.UIDValidity != st.UIDValidity {
		t.Errorf("UIDVALIDITY after RENAME: %v %v, want %d", st2, err, st.UIDValidity)
	}
	mustCode(t, "RENAME to existing", c.Rename("x/y", "Receipts", nil).Wait(), imap.ResponseCodeAlreadyExists)
	mustCode(t, "RENAME missing", c.Rename("nope", "other", nil).Wait(), imap.ResponseCodeNonExistent)
	mustCode(t, "RENAME into itself", c.Rename("x", "x/z", nil).Wait(), imap.ResponseCodeCannot)

	// RENAME INBOX moves its messages and leaves INBOX empty.
	e.deliver("alice", testMessage(1))
	e.deliver("alice", testMessage(2))
	if err := c.Create("INBOX/child", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("INBOX", "Old Inbox", nil).Wait(); err != nil {
		t.Fatalf("RENAME INBOX: %v", err)
	}
	in, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDValidity: true}).Wait()
	if err != nil || *in.NumMessages != 0 {
		t.Fatalf("INBOX after RENAME: %+v %v", in, err)
	}
	old, err := c.Status("Old Inbox", &imap.StatusOptions{NumMessages: true, UIDValidity: true}).Wait()
	if err != nil || *old.NumMessages != 2 || old.UIDValidity == in.UIDValidity {
		t.Fatalf("renamed INBOX: %+v %v", old, err)
	}
	wantNames(t, "INBOX's children stay", listNames(t, c, "", "INBOX*", nil), "INBOX", "INBOX/child")
	// Mail keeps arriving in the new INBOX.
	e.deliver("alice", testMessage(3))
	if in, _ := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); *in.NumMessages != 1 {
		t.Errorf("delivery after RENAME INBOX: INBOX has %d", *in.NumMessages)
	}
}

func TestUIDValidityNotReused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	seen := map[uint32]bool{}
	for i := 0; i < 3; i++ {
		if err := c.Create("Again", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		d, err := c.Select("Again", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if seen[d.UIDValidity] {
			t.Fatalf("UIDVALIDITY %d reused", d.UIDValidity)
		}
		seen[d.UIDValidity] = true
		if err := c.Unselect().Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete("Again").Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatusEveryItem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	e.deliver("alice", testMessage(2))
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	r.ok(`STORE 1 +FLAGS (\Deleted \Seen)`)
	size := len(testMessage(1))
	u := r.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT APPENDLIMIT DELETED-STORAGE)")
	contains(t, u, "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY ", " UNSEEN 1 DELETED 1 SIZE "+
		itoa(size+len(testMessage(2)))+" APPENDLIMIT 26214400 DELETED-STORAGE "+itoa(size)+" RECENT 0)")
	// Each item alone, as clients ask.
	for _, item := range []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "APPENDLIMIT", "DELETED-STORAGE"} {
		contains(t, r.ok("STATUS Sent ("+item+")"), `* STATUS "Sent" (`+item+" ")
	}
	r.expect("STATUS Missing (MESSAGES)", "NO [NONEXISTENT]")
	r.expect("STATUS INBOX (BOGUS)", "BAD")

	c := e.client("alice")
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true,
		NumUnseen: true, NumDeleted: true, Size: true, AppendLimit: true, DeletedStorage: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 2 || st.UIDNext != 3 || *st.NumUnseen != 1 || *st.NumDeleted != 1 ||
		*st.DeletedStorage != int64(size) || *st.AppendLimit != 25<<20 {
		t.Errorf("STATUS = %+v", st)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestUnicodeNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	names := []string{"Küche", "Küche/日本語", "Ελληνικά & more", "emoji 📬"}
	for _, n := range names {
		if err := c.Create(n, nil).Wait(); err != nil {
			t.Fatalf("CREATE %q: %v", n, err)
		}
	}
	got := listNames(t, c, "", "*", nil)
	for _, n := range names {
		if _, ok := got[n]; !ok {
			t.Errorf("LIST lacks %q: %q", n, keys(got))
		}
	}
	if _, err := c.Select("Küche/日本語", nil).Wait(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	if err := c.Rename("emoji 📬", "Ünïcödé", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	r := e.raw("alice")
	// Modified UTF-7 on the wire (RFC 3501 5.1.3) for IMAP4rev1 clients.
	contains(t, r.ok(`LIST "" "K*"`), `"K&APw-che/&ZeVnLIqe-"`)
	// Invalid modified UTF-7 is a syntax error.
	r.expect(`CREATE "&Jjo"`, "BAD Invalid modified UTF-7")
	r.expect(`CREATE "bad&-name&"`, "BAD Invalid modified UTF-7")
	r.ok("NOOP")
	for _, bad := range []string{`"a//b"`, `"/abs"`, `"a/../b"`, `"#shared"`, `"x*y"`, `"tab&AAk-here"`, `"zero&IA0-width"`, `"right&IC4-left"`} {
		_, st := r.cmd("CREATE " + bad)
		if strings.HasPrefix(st, "OK") {
			t.Errorf("CREATE %s accepted", bad)
		}
	}
}

func TestIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.client("alice")
	if err := a.Create("Secret", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	e.deliver("alice", testMessage(1))

	b := e.raw("bob")
	for _, l := range b.ok(`LIST "" "*"`) {
		if strings.Contains(l, "Secret") {
			t.Errorf("bob sees %q", l)
		}
	}
	for _, name := range []string{"Secret", "../alice/Secret", "alice@example.org/INBOX", "alice/INBOX",
		"#shared/alice/INBOX", "#user/alice", "~alice/INBOX", "../../INBOX/../Secret", "Ｓecret"} {
		_, st := b.cmd(`SELECT "` + name + `"`)
		if strings.HasPrefix(st, "OK") {
			t.Errorf("bob selected %q", name)
		}
		_, st = b.cmd(`STATUS "` + name + `" (MESSAGES)`)
		if strings.HasPrefix(st, "OK") {
			t.Errorf("bob got STATUS of %q", name)
		}
		if _, st := b.cmd(`DELETE "` + name + `"`); strings.HasPrefix(st, "OK") {
			t.Errorf("bob deleted %q", name)
		}
	}
	u := b.ok("SELECT INBOX")
	contains(t, u, "* 0 EXISTS")
	b.expect(`LIST "" "#shared/*"`, "OK")
	b.appendMsg("INBOX", "", testMessage(9))
	b.expect("COPY 1 Secret", "NO [TRYCREATE]")
	// alice still has exactly her one message and her folder.
	st, err := a.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Errorf("alice's INBOX: %+v %v", st, err)
	}
	st, err = a.Status("Secret", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 0 {
		t.Errorf("alice's Secret: %+v %v", st, err)
	}
}

// TestListPatternBound: LIST matched every folder name against every
// pattern at a cost of the product of their lengths, with no bound on
// the patterns but the command's size: one LIST with a 50,000-octet
// pattern took seconds of CPU over 80 long folder names, and a pattern
// in a literal may be a mebibyte. Wildcard runs are now one wildcard,
// and patterns longer than LIST can need together are NO [LIMIT].
func TestListPatternBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("alice")
	c.ok("CREATE Work/Projects")
	c.expect(`LIST "" `+strings.Repeat("*a", 2500), "NO [LIMIT]")
	c.expect(`LIST "" (`+strings.Repeat(`"Wo*" `, 1500)+`"x")`, "NO [LIMIT]")
	c.expect(`LSUB "" `+strings.Repeat("%a", 2500), "NO [LIMIT]")
	// A run of wildcards is one wildcard, however long.
	u := c.ok(`LIST "" ` + strings.Repeat("*%", 3000) + "Projects")
	contains(t, u, `* LIST (\HasNoChildren) "/" "Work/Projects"`)
	u = c.ok(`LIST "" Work` + strings.Repeat("%", 3000))
	contains(t, u, `* LIST (\HasChildren) "/" "Work"`)
}

// TestFolderLimit: an account could make folders without end (none of
// them counted by the storage quota, and every LIST reads them all), up
// to 499 with one CREATE of a deep name. Past
// mailbox.DefaultMaxFolders, CREATE is NO [LIMIT]; a smaller bound
// (mailbox.Options) applies to SUBSCRIBE likewise.
func TestFolderLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("alice")
	deep := strings.Repeat("/a", 498) // 499 levels, 999 octets with the top
	made := len(mailbox.DefaultFolders)
	for i := 0; made+499 <= mailbox.DefaultMaxFolders; i++ {
		c.ok(fmt.Sprintf("CREATE k%02d%s", i, deep))
		made += 499
	}
	c.expect("CREATE kzz"+deep, "NO [LIMIT]")
	for ; made < mailbox.DefaultMaxFolders; made++ {
		c.ok(fmt.Sprintf("CREATE f%d", made))
	}
	c.expect("CREATE one-more", "NO [LIMIT]")
	c.ok("DELETE f" + strconv.Itoa(made-1))
	c.ok("CREATE one-more")

	db, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	n := len(mailbox.DefaultFolders)
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4,
		MaxSubscriptions: n + 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.AddUser(context.Background(), "alice@example.org", testPassword); err != nil {
		t.Fatal(err)
	}
	srv := New(svc, Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	c = dialRaw(t, ln.Addr().String(), "alice")
	c.ok("SUBSCRIBE One")
	c.expect("SUBSCRIBE Two", "NO [LIMIT]")
	c.ok("UNSUBSCRIBE One")
	c.ok("SUBSCRIBE Two")
}
