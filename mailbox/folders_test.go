package mailbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestNormalizeFolderName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"INBOX", "INBOX"},
		{"inbox", "INBOX"},
		{"Inbox/Sub", "INBOX/Sub"},
		{"InboxFoo", "InboxFoo"},
		{"Work/Projects", "Work/Projects"},
		{"Küche/日本語", "Küche/日本語"},
		{"a b", "a b"},
	} {
		got, err := NormalizeFolderName(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeFolderName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "/", "a/", "/a", "a//b", "a/../b", ".", "#shared", "a*", "a%b",
		"tab\there", "nul\x00", "zero\u200dwidth", "\xff\xfe", string(make([]byte, 1001))} {
		if _, err := NormalizeFolderName(bad); !errors.Is(err, ErrBadFolderName) {
			t.Errorf("NormalizeFolderName(%q) = %v, want ErrBadFolderName", bad, err)
		}
	}
}

func TestFolderLifecycle(t *testing.T) {
	t.Parallel()
	s, db := newTestService(t)
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	acct, err := db.AccountByAddress(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		fs, err := s.Folders(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}
	if err := s.CreateFolder(ctx, acct.ID, "a/b/c", `\archive`); err != nil {
		t.Fatal(err)
	}
	f, err := s.Folder(ctx, acct.ID, "a/b/c")
	if err != nil || f.SpecialUse != `\Archive` || f.Subscribed {
		t.Fatalf("created folder %+v %v", f, err)
	}
	if err := s.CreateFolder(ctx, acct.ID, "a/b", ""); !errors.Is(err, ErrFolderExists) {
		t.Errorf("CreateFolder of an existing parent: %v", err)
	}
	if err := s.CreateFolder(ctx, acct.ID, "x", `\All`); !errors.Is(err, ErrBadSpecialUse) {
		t.Errorf("CreateFolder \\All: %v", err)
	}
	if err := s.RenameFolder(ctx, acct.ID, "a", "z/y"); err != nil {
		t.Fatal(err)
	}
	got := names()
	for _, want := range []string{"z", "z/y", "z/y/b", "z/y/b/c"} {
		if !slices.Contains(got, want) {
			t.Errorf("after rename: %q lacks %q", got, want)
		}
	}
	if slices.Contains(got, "a/b") {
		t.Errorf("after rename: %q still has a/b", got)
	}
	if err := s.DeleteFolder(ctx, acct.ID, "inbox"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("DeleteFolder INBOX: %v", err)
	}
}

// Subscriptions are names (RFC 9051 6.3.7): a name without a folder can
// be subscribed, and DELETE and RENAME leave the subscriptions alone.
func TestSubscriptionsAreNames(t *testing.T) {
	t.Parallel()
	s, db := newTestService(t)
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	acct, err := db.AccountByAddress(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	subscribed := func() []string {
		t.Helper()
		got, err := s.Subscriptions(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	before := subscribed()
	if err := s.SetSubscribed(ctx, acct.ID, "nope/child", true); err != nil {
		t.Fatalf("subscribe to a missing folder: %v", err)
	}
	if err := s.SetSubscribed(ctx, acct.ID, "nope/child", true); err != nil {
		t.Fatalf("subscribe twice: %v", err)
	}
	if err := s.SetSubscribed(ctx, acct.ID, "a//b", true); !errors.Is(err, ErrBadFolderName) {
		t.Errorf("subscribe to an invalid name: %v", err)
	}
	for _, n := range []string{"Old", "Gone"} {
		if err := s.CreateFolder(ctx, acct.ID, n, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSubscribed(ctx, acct.ID, n, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteFolder(ctx, acct.ID, "Gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameFolder(ctx, acct.ID, "Old", "New"); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(before), "Gone", "Old", "nope/child")))
	if got := subscribed(); !slices.Equal(got, want) {
		t.Errorf("subscriptions = %q, want %q", got, want)
	}
	if f, err := s.Folder(ctx, acct.ID, "New"); err != nil || f.Subscribed {
		t.Errorf("renamed folder: %+v, %v; want it unsubscribed", f, err)
	}
	// A folder created under a subscribed name shows as subscribed.
	if err := s.CreateFolder(ctx, acct.ID, "Gone", ""); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Folder(ctx, acct.ID, "Gone"); err != nil || !f.Subscribed {
		t.Errorf("recreated folder: %+v, %v; want it subscribed", f, err)
	}
	for _, n := range []string{"nope/child", "never"} {
		if err := s.SetSubscribed(ctx, acct.ID, n, false); err != nil {
			t.Errorf("unsubscribe %s: %v", n, err)
		}
	}
	if got := subscribed(); slices.Contains(got, "nope/child") {
		t.Errorf("after unsubscribe: %q", got)
	}
}

func TestHeaderFields(t *testing.T) {
	t.Parallel()
	block := []byte("From: a@example.org\r\nSubject: one\r\n two\r\nTo: b@example.org\r\nX-Empty:\r\n\r\n")
	if got := string(HeaderFields(block, []string{"subject", "x-empty"}, false)); got != "Subject: one\r\n two\r\nX-Empty:\r\n\r\n" {
		t.Errorf("HEADER.FIELDS = %q", got)
	}
	if got := string(HeaderFields(block, []string{"SUBJECT", "from"}, true)); got != "To: b@example.org\r\nX-Empty:\r\n\r\n" {
		t.Errorf("HEADER.FIELDS.NOT = %q", got)
	}
	if got := string(HeaderFields(block, []string{"missing"}, false)); got != "\r\n" {
		t.Errorf("HEADER.FIELDS of nothing = %q", got)
	}
	if got := string(HeaderFields([]byte("A: 1\nB: 2\n\n"), []string{"b"}, false)); got != "B: 2\n\r\n" {
		t.Errorf("bare LF header = %q", got)
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	bits, kw, err := parseFlags([]string{`\seen`, `\DRAFT`, "$Forwarded", "$forwarded", `\Recent`, "Work"})
	if err != nil || flagNames(bits, kw)[0] != FlagSeen || !slices.Equal(flagNames(bits, kw), []string{FlagSeen, FlagDraft, "$Forwarded", "Work"}) {
		t.Errorf("parseFlags: %v %v %v", bits, kw, err)
	}
	for _, bad := range []string{`\Bogus`, "a b", "", "x(", "ü"} {
		if _, _, err := parseFlags([]string{bad}); !errors.Is(err, ErrBadFlag) {
			t.Errorf("parseFlags(%q) = %v", bad, err)
		}
	}
}

// TestFolderAndSubscriptionLimits: an account could create folders and
// subscribe names without end, none of it counted by the storage quota,
// and every LIST reads them all. Past Options.MaxFolders and
// Options.MaxSubscriptions the write fails with ErrLimit; renames that
// add nothing, unsubscribing and subscribing a name again still work.
func TestFolderAndSubscriptionLimits(t *testing.T) {
	t.Parallel()
	n := len(DefaultFolders) // made with the account, and subscribed
	e := newQueueEnvWith(t, Options{MaxFolders: n + 5, MaxSubscriptions: n + 3})
	ctx := context.Background()
	acct := e.alice.ID
	folders, err := e.svc.Folders(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(folders); i < n+4; i++ {
		if err := e.svc.CreateFolder(ctx, acct, fmt.Sprintf("f%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	// Two levels where one fits.
	if err := e.svc.CreateFolder(ctx, acct, "p/q", ""); !errors.Is(err, ErrLimit) {
		t.Fatalf("CREATE past the limit: %v, want ErrLimit", err)
	}
	if err := e.svc.CreateFolder(ctx, acct, "last", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CreateFolder(ctx, acct, "more", ""); !errors.Is(err, ErrLimit) {
		t.Fatalf("CREATE past the limit: %v, want ErrLimit", err)
	}
	if err := e.svc.RenameFolder(ctx, acct, "last", "x/last"); !errors.Is(err, ErrLimit) {
		t.Fatalf("RENAME making a level past the limit: %v, want ErrLimit", err)
	}
	if err := e.svc.RenameFolder(ctx, acct, "INBOX", "Old"); !errors.Is(err, ErrLimit) {
		t.Fatalf("RENAME INBOX past the limit: %v, want ErrLimit", err)
	}
	if err := e.svc.RenameFolder(ctx, acct, "last", "first"); err != nil {
		t.Fatalf("RENAME adding nothing: %v", err)
	}
	if fs, _ := e.svc.Folders(ctx, acct); len(fs) != n+5 {
		t.Fatalf("%d folders, want %d", len(fs), n+5)
	}

	subs, err := e.svc.Subscriptions(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(subs); i < n+3; i++ {
		if err := e.svc.SetSubscribed(ctx, acct, fmt.Sprintf("s%d", i), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.SetSubscribed(ctx, acct, "one more", true); !errors.Is(err, ErrLimit) {
		t.Fatalf("SUBSCRIBE past the limit: %v, want ErrLimit", err)
	}
	subs, _ = e.svc.Subscriptions(ctx, acct)
	if err := e.svc.SetSubscribed(ctx, acct, subs[0], true); err != nil {
		t.Fatalf("subscribing a subscribed name again: %v", err)
	}
	if err := e.svc.SetSubscribed(ctx, acct, subs[0], false); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetSubscribed(ctx, acct, "one more", true); err != nil {
		t.Fatalf("SUBSCRIBE after UNSUBSCRIBE: %v", err)
	}
}
