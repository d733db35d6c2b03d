package mailbox

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"pillarbox/store"
)

// keywordBatch returns n keywords named from first on.
func keywordBatch(first, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("k%d", first+i)
	}
	return out
}

// A folder lists every keyword its messages have had (FLAGS and
// PERMANENTFLAGS at SELECT, and every session's memory of the folder).
// One message may carry only 64 at once, but adding and removing them
// made the list grow without end. Past MaxFolderKeywords a STORE or an
// APPEND that brings a new keyword gets ErrLimit; the keywords the folder
// has keep working.
func TestFolderKeywordsBounded(t *testing.T) {
	t.Parallel()
	s, db, acct, inbox := fullKeywordFolder(t)
	ctx := context.Background()
	one := UIDSet{{Start: 1, Stop: 1}}
	n := MaxFolderKeywords
	if err := s.StoreFlags(ctx, acct.ID, inbox.ID, one, FlagsAdd, []string{"one-more"}, nil); !errors.Is(err, ErrLimit) {
		t.Errorf("STORE of keyword %d: %v, want ErrLimit", n+1, err)
	}
	if _, _, err := s.Append(ctx, acct.ID, "INBOX", []byte("Subject: b\r\n\r\ny\r\n"), []string{"one-more"}, time.Time{}); !errors.Is(err, ErrLimit) {
		t.Errorf("APPEND with keyword %d: %v, want ErrLimit", n+1, err)
	}
	// The folder's keywords, in any case, keep working.
	if err := s.StoreFlags(ctx, acct.ID, inbox.ID, one, FlagsAdd, []string{"K0", "k1", FlagSeen}, nil); err != nil {
		t.Errorf("STORE of known keywords: %v", err)
	}
	if _, _, err := s.Append(ctx, acct.ID, "INBOX", []byte("Subject: b\r\n\r\ny\r\n"), []string{"k2"}, time.Time{}); err != nil {
		t.Errorf("APPEND with a known keyword: %v", err)
	}
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if kws, err := snap.Keywords(ctx, inbox.ID); err != nil || len(kws) != MaxFolderKeywords {
		t.Errorf("the folder has %d keywords (%v), want %d", len(kws), err, MaxFolderKeywords)
	}
}

// TestFolderKeywordsBoundedCopy: COPY and MOVE bring the keywords of the
// messages they copy; into a folder that has MaxFolderKeywords they may
// bring none it lacks (ErrLimit), while messages whose keywords it has,
// or that have none, are copied.
func TestFolderKeywordsBoundedCopy(t *testing.T) {
	t.Parallel()
	s, db, acct, inbox := fullKeywordFolder(t)
	ctx := context.Background()
	if err := s.CreateFolder(ctx, acct.ID, "Other", ""); err != nil {
		t.Fatal(err)
	}
	other, _, err := s.Append(ctx, acct.ID, "Other", []byte("Subject: b\r\n\r\ny\r\n"), keywordBatch(1000, maxKeywords), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, acct.ID, "Other", []byte("Subject: c\r\n\r\nz\r\n"), []string{"k5"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, move := range []bool{false, true} {
		if _, err := s.Copy(ctx, acct.ID, other.ID, UIDSet{{Start: 1, Stop: 2}}, "INBOX", move, nil); !errors.Is(err, ErrLimit) {
			t.Errorf("copy (move %v) of new keywords into a full folder: %v, want ErrLimit", move, err)
		}
	}
	if _, err := s.Copy(ctx, acct.ID, other.ID, UIDSet{{Start: 2, Stop: 2}}, "INBOX", false, nil); err != nil {
		t.Errorf("copy of a known keyword: %v", err)
	}
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if kws, err := snap.Keywords(ctx, inbox.ID); err != nil || len(kws) != MaxFolderKeywords {
		t.Errorf("the folder has %d keywords (%v), want %d", len(kws), err, MaxFolderKeywords)
	}
}

// fullKeywordFolder returns a service whose alice has one message in
// her INBOX, and an INBOX that has MaxFolderKeywords keywords, added and
// removed on that message at most maxKeywords at a time.
func fullKeywordFolder(t *testing.T) (*Service, store.Store, Account, Folder) {
	t.Helper()
	s, db := newTestService(t)
	ctx := context.Background()
	inbox := aliceInbox(t, s, "Subject: a\r\n\r\nx\r\n")
	acct, err := s.Authenticate(ctx, "alice@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	one := UIDSet{{Start: 1, Stop: 1}}
	for n := 0; n < MaxFolderKeywords; n += maxKeywords {
		kws := keywordBatch(n, min(maxKeywords, MaxFolderKeywords-n))
		if err := s.StoreFlags(ctx, acct.ID, inbox.ID, one, FlagsAdd, kws, nil); err != nil {
			t.Fatalf("store %d keywords from %d: %v", len(kws), n, err)
		}
		if err := s.StoreFlags(ctx, acct.ID, inbox.ID, one, FlagsRemove, kws, nil); err != nil {
			t.Fatal(err)
		}
	}
	return s, db, acct, inbox
}
