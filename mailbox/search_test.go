package mailbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSearchesDoNotStarveDelivery holds every snapshot reader with
// searches in flight, as many slow IMAP searches would, and checks that
// what SMTP needs (RCPT's Resolve, MAIL's CanSendAs, AUTH's Authenticate,
// DATA's Deliver) still answers. With one pool for everything, these
// waited for the searches to end.
func TestSearchesDoNotStarveDelivery(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t) // the store's default pools: 8 snapshot readers
	const readers = 8
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	mustAddUser(t, s, "bob@example.org")
	for i := range 3 {
		if _, err := s.Deliver(ctx, &Delivery{From: "x@example.net", Recipients: resolveAll(t, s, "alice@example.org"),
			Data: []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))}); err != nil {
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

	entered := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, readers)
	for range readers {
		go func() {
			done <- s.ReadMailbox(ctx, inbox.ID, nil, func(r *Reader) error {
				c := Criteria{Text: []string{"body"}, Or: [][2]Criteria{{{Body: []string{"x"}}, {Header: []HeaderMatch{{Field: "Subject", Value: "1"}}}}}}
				if err := r.Search(&c, true, func(uint32, uint32) error { return nil }); err != nil {
					return err
				}
				entered <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	for range readers {
		select {
		case <-entered:
		case err := <-done:
			t.Fatalf("search: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the searches did not start")
		}
	}

	// Every snapshot reader is taken now: SMTP's paths must not need one.
	answered := make(chan error, 1)
	go func() {
		answered <- func() error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			bob, err := ParseAddress("bob@example.org")
			if err != nil {
				return err
			}
			r, err := s.Resolve(ctx, bob)
			if err != nil {
				return fmt.Errorf("resolve: %w", err)
			}
			if _, err := s.Authenticate(ctx, "alice@example.org", "secret"); err != nil {
				return fmt.Errorf("authenticate: %w", err)
			}
			from, _ := ParseAddress("alice@example.org")
			if ok, err := s.CanSendAs(ctx, acct, from); !ok || err != nil {
				return fmt.Errorf("can send as: %v %w", ok, err)
			}
			if _, err := s.Deliver(ctx, &Delivery{From: "x@example.net", Recipients: []Recipient{r},
				Data: []byte("Subject: during\r\n\r\nsearches\r\n")}); err != nil {
				return fmt.Errorf("deliver: %w", err)
			}
			return nil
		}()
	}()
	select {
	case err := <-answered:
		if err != nil {
			t.Errorf("with every snapshot reader held: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("SMTP's lookups waited for the searches")
	}
	close(release)
	for range readers {
		if err := <-done; err != nil {
			t.Errorf("search: %v", err)
		}
	}
}

// TestSearchLimit: criteria past the limits are refused with
// ErrSearchLimit, and those at the limits run.
func TestSearchLimit(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	inbox := aliceInbox(t, s, "Subject: hello\r\n\r\nneedle 63\r\n")
	// orChain ORs n BODY keys: nested n-1 deep.
	orChain := func(n int) Criteria {
		c := Criteria{Body: []string{fmt.Sprintf("needle %d", n-1)}}
		for i := n - 2; i >= 0; i-- {
			c = Criteria{Or: [][2]Criteria{{{Body: []string{fmt.Sprintf("needle %d", i)}}, c}}}
		}
		return c
	}
	// notChain nests n NOTs over UNSEEN, which the message is.
	notChain := func(n int) Criteria {
		c := Criteria{NotFlags: []string{`\Seen`}}
		for range n {
			c = Criteria{Not: []Criteria{c}}
		}
		return c
	}
	orNest := func(n int) Criteria {
		c := Criteria{NotFlags: []string{`\Seen`}}
		for range n {
			c = Criteria{Or: [][2]Criteria{{c, {Flags: []string{`\Deleted`}}}}}
		}
		return c
	}
	var manyKeys Criteria
	for i := range MaxSearchKeys {
		manyKeys.Flags = append(manyKeys.Flags, fmt.Sprintf("k%d", i))
	}
	for _, tc := range []struct {
		name string
		c    Criteria
		hits int
		err  string
	}{
		{"text keys at the limit", orChain(MaxSearchTextKeys), 1, ""},
		{"one text key more", orChain(MaxSearchTextKeys + 1), 0, "65 text keys"},
		{"nesting at the limit", notChain(MaxSearchDepth), 1, ""},
		{"nested one more", notChain(MaxSearchDepth + 1), 0, "nested 65 deep"},
		{"ORs nested at the limit", orNest(MaxSearchDepth), 1, ""},
		{"1200 nested ORs", orNest(1200), 0, "nested 1200 deep"},
		{"keys at the limit", manyKeys, 0, ""},
		{"one key more", Criteria{Flags: manyKeys.Flags, Larger: 1}, 0, "257 keys"},
	} {
		var hits int
		err := s.ReadMailbox(ctx, inbox.ID, nil, func(r *Reader) error {
			return r.Search(&tc.c, false, func(uint32, uint32) error { hits++; return nil })
		})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (!errors.Is(err, ErrSearchLimit) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %v, want ErrSearchLimit with %q", tc.name, err, tc.err)
		case hits != tc.hits:
			t.Errorf("%s: %d hits, want %d", tc.name, hits, tc.hits)
		}
	}
}

// Search's sequence numbers are the snapshot's positions, whether the
// reader counts them in the store or has the folder's UIDs in memory
// (UseUIDs, LoadUIDs), with gaps in the UIDs where messages went.
func TestSearchSequenceNumbersFromUIDs(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	var msgs []string
	for i := range 6 {
		msgs = append(msgs, fmt.Sprintf("Subject: %s %d\r\n\r\nbody\r\n", []string{"odd", "even"}[i%2], i))
	}
	inbox := aliceInbox(t, s, msgs...)
	acct, err := s.Authenticate(ctx, "alice@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	// UIDs 1..6; 2 and 3 go: 1 4 5 6 are left, at 1 2 3 4.
	if err := s.StoreFlags(ctx, acct.ID, inbox.ID, UIDSet{{Start: 2, Stop: 3}}, FlagsAdd, []string{`\Deleted`}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Expunge(ctx, acct.ID, inbox.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	c := Criteria{Header: []HeaderMatch{{Field: "Subject", Value: "even"}}} // UIDs 4 and 6
	want := "4:2 6:4"
	for _, how := range []string{"store", "loaded", "given"} {
		var got []string
		err := s.ReadMailbox(ctx, inbox.ID, nil, func(r *Reader) error {
			switch how {
			case "loaded":
				r.LoadUIDs(func([]uint32) {})
			case "given":
				if !r.UseUIDs([]uint32{1, 4, 5, 6}) {
					return errors.New("UseUIDs refused the folder's UIDs")
				}
			}
			return r.Search(&c, true, func(uid, seq uint32) error {
				got = append(got, fmt.Sprintf("%d:%d", uid, seq))
				return nil
			})
		})
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: got %q, want %q", how, got, want)
		}
	}
}
