package mailbox

import (
	"context"
	"os"
	"path/filepath"
	"pillarbox/store"
	"strings"
	"testing"
)

// searchTextMessages are the repository's MIME test messages and, when
// present, the shared corpus of real-world and broken ones.
func searchTextMessages(t *testing.T) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, dir := range []string{"../testdata/mime", "../../shared/corpus/mimekit"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() || e.Name() == "LICENSE" {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = raw
		}
	}
	if len(out) == 0 {
		t.Fatal("no test messages")
	}
	return out
}

// TestSearchTextIsAnalyzeText: the store derives the search text again from
// the stored message when it checks SEARCH candidates and when it removes
// a message's words from the index; it must be what delivery stored.
func TestSearchTextIsAnalyzeText(t *testing.T) {
	t.Parallel()
	for _, lim := range []Limits{{}, {MaxTextBytes: 100, MaxHeaderBytes: 200, MaxParts: 3}} {
		for name, raw := range searchTextMessages(t) {
			m := Analyze(raw, lim)
			want := store.MessageText{Header: m.HeaderText, Body: m.BodyText, Parts: m.PartText}
			if got := SearchText(raw, lim, true); got != want {
				t.Errorf("%s %+v: SearchText differs from Analyze", name, lim)
			}
			if got := SearchText(raw, lim, false); got != (store.MessageText{Header: m.HeaderText}) {
				t.Errorf("%s %+v: header-only SearchText = %+v", name, lim, got)
			}
		}
	}
}

// TestIndexFollowsRemovals delivers real messages, removes them in every
// way (expunge, folder and account deletion) and checks that the full-text
// index holds exactly the words of the messages left: FTS4's integrity
// check compares it with the words derived from every stored message.
func TestIndexFollowsRemovals(t *testing.T) {
	t.Parallel()
	s, db := newTestService(t)
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	mustAddUser(t, s, "bob@example.org")
	msgs := searchTextMessages(t)
	for _, raw := range msgs {
		raw = []byte(strings.ReplaceAll(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n", "\r\n"))
		rcpts := append(resolveAll(t, s, "alice@example.org"), resolveAll(t, s, "bob@example.org")...)
		if _, err := s.Deliver(ctx, &Delivery{From: "x@example.net", Recipients: rcpts, Data: raw}); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkIndex(ctx, db); err != nil {
		t.Fatalf("after delivery: %v", err)
	}
	alice, err := s.Authenticate(ctx, "alice@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := s.Folder(ctx, alice.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	half := UIDSet{{Start: 1, Stop: uint32(len(msgs) / 2)}}
	if err := s.StoreFlags(ctx, alice.ID, inbox.ID, half, FlagsAdd, []string{FlagDeleted}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Expunge(ctx, alice.ID, inbox.ID, half, nil); err != nil {
		t.Fatal(err)
	}
	if c, err := s.FolderCounts(ctx, inbox.ID); err != nil || int(c.Messages) != len(msgs)-len(msgs)/2 {
		t.Fatalf("alice's INBOX after the expunge: %+v, %v", c, err)
	}
	if err := checkIndex(ctx, db); err != nil {
		t.Fatalf("after alice's expunge (bob keeps the messages): %v", err)
	}
	if err := s.DeleteUser(ctx, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := checkIndex(ctx, db); err != nil {
		t.Fatalf("after deleting bob: %v", err)
	}
	if err := s.DeleteUser(ctx, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := checkIndex(ctx, db); err != nil {
		t.Fatalf("after deleting alice: %v", err)
	}
	if n, err := db.CountBlobs(ctx); err != nil || n != 0 {
		t.Errorf("%d blobs left, %v", n, err)
	}
}

// checkIndex runs the store's own check of its full-text index against
// the stored messages, where it has one (the SQLite store's).
func checkIndex(ctx context.Context, db store.Store) error {
	if c, ok := db.(interface{ CheckIndex(context.Context) error }); ok {
		return c.CheckIndex(ctx)
	}
	return nil
}
