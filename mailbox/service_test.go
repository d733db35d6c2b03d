package mailbox

import (
	"context"
	"errors"
	"fmt"
	"pillarbox/store"
	"pillarbox/store/storetest"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestService opens a store in a temp dir with a cheap bcrypt cost.
func newTestService(t *testing.T, domains ...string) (*Service, store.Store) {
	t.Helper()
	db := storetest.Open(t, pg)
	if len(domains) == 0 {
		domains = []string{"example.org"}
	}
	svc, err := New(db, Options{Domains: domains, BcryptCost: 4, Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return svc, db
}

func mustAddUser(t *testing.T, s *Service, addr string) {
	t.Helper()
	if err := s.AddUser(context.Background(), addr, "secret"); err != nil {
		t.Fatal(err)
	}
}

// aliceInbox adds alice@example.org (password "secret"), delivers each
// raw message to her in order (UID i+1 holds msgs[i]) and returns her
// INBOX.
func aliceInbox(t *testing.T, s *Service, msgs ...string) Folder {
	t.Helper()
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	for _, m := range msgs {
		if _, err := s.Deliver(ctx, &Delivery{From: "x@example.net", Recipients: resolveAll(t, s, "alice@example.org"),
			Data: []byte(m)}); err != nil {
			t.Fatal(err)
		}
	}
	acct, err := s.Authenticate(ctx, "alice@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := s.Folder(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return inbox
}

func TestAddUserMakesFolders(t *testing.T) {
	t.Parallel()
	s, db := newTestService(t)
	ctx := context.Background()
	mustAddUser(t, s, "Alice@Example.ORG")
	acct, err := db.AccountByAddress(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := db.Mailboxes(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, b := range boxes {
		got[b.Name] = b.SpecialUse
		if !b.Subscribed {
			t.Errorf("%s not subscribed", b.Name)
		}
	}
	for _, f := range DefaultFolders {
		if use, ok := got[f.Name]; !ok || use != f.SpecialUse {
			t.Errorf("folder %s: got %q, %v; want special use %q", f.Name, use, ok, f.SpecialUse)
		}
	}
	if len(got) != len(DefaultFolders) {
		t.Errorf("folders %v", got)
	}
}

func TestAccountErrors(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"existing user", s.AddUser(ctx, "ALICE@example.org", "x"), ErrExists},
		{"foreign domain", s.AddUser(ctx, "bob@example.com", "x"), ErrNotLocal},
		{"bad address", s.AddUser(ctx, "not-an-address", "x"), ErrInvalidAddress},
		{"empty password", s.AddUser(ctx, "bob@example.org", ""), ErrBadPassword},
		{"password too long", s.AddUser(ctx, "bob@example.org", strings.Repeat("p", 73)), ErrBadPassword},
		{"passwd unknown", s.SetPassword(ctx, "nobody@example.org", "x"), ErrNoSuchUser},
		{"del unknown", s.DeleteUser(ctx, "nobody@example.org"), ErrNoSuchUser},
		{"alias over user", s.SetAlias(ctx, "alice@example.org", []string{"alice@example.org"}), nil},
		{"alias to nobody", s.SetAlias(ctx, "team@example.org", []string{"nobody@example.org"}), ErrNoSuchUser},
		{"alias foreign", s.SetAlias(ctx, "team@example.com", []string{"alice@example.org"}), ErrNotLocal},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if tc.want != nil && !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
		if strings.Contains(tc.err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", tc.name, tc.err)
		}
	}
	if err := s.AddUser(ctx, "max@example.org", strings.Repeat("p", 72)); err != nil {
		t.Errorf("72-byte password refused: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	if a, err := s.Authenticate(ctx, "Alice@EXAMPLE.org", "secret"); err != nil || a.Address != "alice@example.org" {
		t.Fatalf("good login: %+v %v", a, err)
	}
	for _, c := range [][2]string{{"alice@example.org", "wrong"}, {"nobody@example.org", "secret"}, {"garbage", "secret"}} {
		if _, err := s.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("login %v: %v, want ErrAuthFailed", c, err)
		}
	}
	if err := s.SetPassword(ctx, "alice@example.org", "new one"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice@example.org", "new one"); err != nil {
		t.Fatalf("after passwd: %v", err)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	s, db := newTestService(t, "example.org", "xn--bcher-kva.example")
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	mustAddUser(t, s, "bob@example.org")
	mustAddUser(t, s, "carol@bücher.example")
	if err := s.SetAlias(ctx, "team@example.org", []string{"alice@example.org", "bob@example.org"}); err != nil {
		t.Fatal(err)
	}
	id := func(addr string) int64 {
		a, err := db.AccountByAddress(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	alice, bob, carol := id("alice@example.org"), id("bob@example.org"), id("carol@xn--bcher-kva.example")
	tests := []struct {
		rcpt string
		want []int64
		err  error
	}{
		{"alice@example.org", []int64{alice}, nil},
		{"ALICE@Example.Org", []int64{alice}, nil},
		{"alice+lists@example.org", []int64{alice}, nil},
		{"team@example.org", []int64{alice, bob}, nil},
		{"team+x@example.org", []int64{alice, bob}, nil},
		{"carol@BÜCHER.example", []int64{carol}, nil},
		{"nobody@example.org", nil, ErrNoSuchUser},
		{"alice@example.com", nil, ErrNotLocal},
	}
	for _, tc := range tests {
		a, err := ParseAddress(tc.rcpt)
		if err != nil {
			t.Fatalf("%s: %v", tc.rcpt, err)
		}
		r, err := s.Resolve(ctx, a)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: %v, want %v", tc.rcpt, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(r.Accounts) != fmt.Sprint(tc.want) {
			t.Errorf("%s: accounts %v (%v), want %v", tc.rcpt, r.Accounts, err, tc.want)
		}
	}
}

type recorder struct {
	mu      sync.Mutex
	changes []Change
}

func (r *recorder) MailboxChanged(c Change) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
}

func resolveAll(t *testing.T, s *Service, addrs ...string) []Recipient {
	t.Helper()
	var out []Recipient
	for _, a := range addrs {
		pa, err := ParseAddress(a)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Resolve(context.Background(), pa)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestDeliverStoresOnceForManyRecipients(t *testing.T) {
	t.Parallel()
	s, db := newTestService(t)
	ctx := context.Background()
	rec := &recorder{}
	s.AddListener(rec)
	for _, u := range []string{"alice", "bob", "carol"} {
		mustAddUser(t, s, u+"@example.org")
	}
	if err := s.SetAlias(ctx, "team@example.org", []string{"alice@example.org", "bob@example.org"}); err != nil {
		t.Fatal(err)
	}
	raw := []byte("From: Zoë <zoe@example.net>\r\nTo: team@example.org\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <m1@example.net>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nHallo Welt\r\n")
	// alice is reached three ways and must get one copy.
	res, err := s.Deliver(ctx, &Delivery{From: "zoe@example.net", Recipients: resolveAll(t, s, "team@example.org", "alice+x@example.org", "alice@example.org", "carol@example.org"), Data: raw})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accounts != 3 || res.MessageID != "m1@example.net" {
		t.Fatalf("delivered %+v", res)
	}
	if n, _ := db.CountBlobs(ctx); n != 1 {
		t.Fatalf("%d blobs, want 1", n)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if n, err := s.Count(ctx, u+"@example.org", "INBOX"); err != nil || n != 1 {
			t.Errorf("%s INBOX: %d messages, %v", u, n, err)
		}
	}
	data, err := db.BlobData(ctx, res.ID)
	if err != nil || string(data) != string(raw) {
		t.Fatalf("stored bytes differ: %q %v", data, err)
	}
	env, structure, err := db.BlobMeta(ctx, res.ID)
	if err != nil || !strings.Contains(string(env), "Grüße") || !strings.Contains(string(structure), "plain") {
		t.Fatalf("metadata: %s %s %v", env, structure, err)
	}
	if len(rec.changes) != 3 {
		t.Fatalf("%d changes announced, want 3", len(rec.changes))
	}
	for _, c := range rec.changes {
		if c.Kind != ChangeAdded || c.UID != 1 {
			t.Errorf("change %+v", c)
		}
	}
}

func TestDeliverConcurrentUIDsInCommitOrder(t *testing.T) {
	t.Parallel()
	s, db := newTestService(t)
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	rec := &recorder{}
	s.AddListener(rec)
	rcpts := resolveAll(t, s, "alice@example.org")
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i)
			if _, err := s.Deliver(ctx, &Delivery{Recipients: rcpts, Data: []byte(msg)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(rec.changes) != n {
		t.Fatalf("%d changes for %d deliveries", len(rec.changes), n)
	}
	for i, c := range rec.changes {
		if c.UID != uint32(i+1) {
			t.Fatalf("change %d announces UID %d: announcements out of commit order", i, c.UID)
		}
	}
	acct, _ := db.AccountByAddress(ctx, "alice@example.org")
	mb, _ := db.MailboxByName(ctx, acct.ID, "INBOX")
	if mb.UIDNext != n+1 {
		t.Fatalf("UIDNEXT %d, want %d", mb.UIDNext, n+1)
	}
	if st := db.Stats(); st.Commits >= st.Requests {
		t.Logf("no batching happened (%d commits for %d requests); fine on an idle machine", st.Commits, st.Requests)
	}
}

func TestDeliverBrokenMIME(t *testing.T) {
	t.Parallel()
	s, db := newTestService(t)
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	rcpts := resolveAll(t, s, "alice@example.org")
	for i, raw := range []string{
		"",
		"no header at all",
		"Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Transfer-Encoding: bogus\r\n\r\nabc",
		"Subject: \xff\xfe\x00binary\r\n\r\n\x00\x01\x02",
	} {
		res, err := s.Deliver(ctx, &Delivery{Recipients: rcpts, Data: []byte(raw)})
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		data, err := db.BlobData(ctx, res.ID)
		if err != nil || string(data) != raw {
			t.Fatalf("message %d not stored as it came", i)
		}
	}
}
