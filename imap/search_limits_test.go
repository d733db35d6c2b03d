package imap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"pillarbox/mailbox"
	"pillarbox/store/storetest"
)

// textOrChain ORs n TEXT keys q0 … q<n-1>: n text keys, nested n-1 deep.
func textOrChain(n int) *imap.SearchCriteria {
	c := imap.SearchCriteria{Text: []string{fmt.Sprintf("q%d", n-1)}}
	for i := n - 2; i >= 0; i-- {
		c = imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Text: []string{fmt.Sprintf("q%d", i)}}, c}}}
	}
	return &c
}

// wantNo checks that err is a NO with code.
func wantNo(t *testing.T, what string, err error, code imap.ResponseCode, text string) {
	t.Helper()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != code || !strings.Contains(ie.Text, text) {
		t.Errorf("%s: %v, want NO [%s] %s…", what, err, code, text)
	}
}

func TestSearchLimitsWithClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "Subject: q7\n\nhello q63\n")
	c := e.client("alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	search := func(criteria *imap.SearchCriteria) (*imap.SearchData, error) {
		return c.UIDSearch(criteria, nil).Wait()
	}

	d, err := search(textOrChain(mailbox.MaxSearchTextKeys))
	if err != nil || d.All.String() != "1" {
		t.Errorf("%d text keys: %v %v", mailbox.MaxSearchTextKeys, d, err)
	}
	_, err = search(textOrChain(mailbox.MaxSearchTextKeys + 1))
	wantNo(t, "one text key too many", err, imap.ResponseCodeLimit, "Search too complex: 65 text keys")

	// SQLite refuses expressions deeper than 1000: such a search must be
	// refused before it gets there. (imapclient puts each operand in
	// parentheses, and the library's parser refuses 1000 nested ones
	// itself; TestSearchLimitsRaw sends deeper ORs without them.)
	deep := imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}
	for range 998 {
		deep = imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{deep, {Flag: []imap.Flag{imap.FlagDeleted}}}}}
	}
	_, err = search(&deep)
	wantNo(t, "998 nested ORs", err, imap.ResponseCodeLimit, "nested 998 deep")
	not := imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}
	for range mailbox.MaxSearchDepth + 1 {
		not = imap.SearchCriteria{Not: []imap.SearchCriteria{not}}
	}
	_, err = search(&not)
	wantNo(t, "NOT nested one too deep", err, imap.ResponseCodeLimit, "nested 65 deep")
	many := imap.SearchCriteria{}
	for i := range mailbox.MaxSearchKeys + 1 {
		many.UID = append(many.UID, imap.UIDSetNum(imap.UID(i+1)))
	}
	_, err = search(&many)
	wantNo(t, "one key too many", err, imap.ResponseCodeLimit, "257 keys")

	// The session goes on.
	if d, err := search(&imap.SearchCriteria{Body: []string{"HELLO"}}); err != nil || d.All.String() != "1" {
		t.Errorf("after the refusals: %v %v", d, err)
	}
}

func TestSearchLimitsRaw(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "Subject: x\n\nhello\n")
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	var hostile strings.Builder
	hostile.WriteString("SEARCH " + strings.Repeat("OR ", 498))
	for k := range 499 {
		fmt.Fprintf(&hostile, "TEXT q%d ", k)
	}
	for _, tc := range []struct{ what, cmd string }{
		{"1500 ORs nested", "SEARCH " + strings.Repeat("OR ", 1500) + strings.Repeat("SEEN ", 1500) + "SEEN"},
		{"3000 NOTs nested", "SEARCH " + strings.Repeat("NOT ", 3000) + "SEEN"},
		{"499 TEXT keys", strings.TrimSpace(hostile.String())},
	} {
		if _, st := r.cmd(tc.cmd); !strings.HasPrefix(st, "NO [LIMIT]") {
			t.Errorf("%s: %q, want NO [LIMIT]", tc.what, st)
		}
	}
	// RFC 5182 2.1's example: SAVE alone answers no ESEARCH.
	if u := r.ok("SEARCH RETURN (SAVE) OR TEXT q0 BODY hello"); len(u) != 0 {
		t.Errorf("SEARCH RETURN (SAVE): %q", u)
	}
	contains(t, r.ok("UID SEARCH $"), "* SEARCH 1")
	r.expect("SEARCH RETURN (SAVE) "+strings.Repeat("NOT ", 100)+"SEEN", "NO [LIMIT]")
	if u := r.ok("UID SEARCH $"); len(u) != 1 || strings.TrimSpace(strings.TrimPrefix(u[0], "* SEARCH")) != "" {
		t.Errorf("$ after a refused SAVE: %q", u) // RFC 5182 2.1
	}
}

// TestSearchTimeout: a search past its budget answers NO [LIMIT], and the
// session goes on.
func TestSearchTimeout(t *testing.T) {
	t.Parallel()
	e := newEnvAt(t, storetest.New(t, pg), Options{SearchTimeout: time.Nanosecond}, true)
	e.deliver("alice", "Subject: x\n\nhello\n")
	c := e.client("alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Search(&imap.SearchCriteria{Body: []string{"hello"}}, nil).Wait()
	wantNo(t, "search", err, imap.ResponseCodeLimit, "Search took too long")
	if _, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true}).Collect(); err != nil {
		t.Errorf("fetch after: %v", err)
	}
}

// TestSearchesLeaveReadersFree holds hostile searches in flight from 8
// connections: at most Options.MaxSearches of them run at once, and
// meanwhile delivery's lookups and other IMAP commands still answer.
func TestSearchesLeaveReadersFree(t *testing.T) {
	t.Parallel()
	const conns, maxSearches = 8, 4 // the defaults: 4 searches, 8 snapshot readers
	entered := make(chan struct{}, conns)
	release := make(chan struct{})
	var mu sync.Mutex
	inside, most := 0, 0
	e := startEnv(t, storetest.New(t, pg), Options{}, true, func(s *Server) {
		s.searchHook = func() {
			mu.Lock()
			inside++
			most = max(most, inside)
			mu.Unlock()
			entered <- struct{}{}
			<-release
			mu.Lock()
			inside--
			mu.Unlock()
		}
	})
	for i := range 3 {
		e.deliver("alice", fmt.Sprintf("Subject: %d\n\nbody q%d\n", i, i))
	}
	done := make(chan error, conns)
	for range conns {
		c := e.client("alice")
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := c.Search(textOrChain(mailbox.MaxSearchTextKeys), nil).Wait()
			done <- err
		}()
	}
	for range maxSearches {
		select {
		case <-entered:
		case err := <-done:
			t.Fatalf("search ended early: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the searches did not start")
		}
	}

	checked := make(chan error, 1)
	go func() {
		checked <- func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			bob, err := mailbox.ParseAddress("bob@example.org")
			if err != nil {
				return err
			}
			if _, err := e.svc.Resolve(ctx, bob); err != nil {
				return fmt.Errorf("RCPT's resolve: %w", err)
			}
			c, err := imapclient.DialInsecure(e.addr, nil)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Login("bob@example.org", testPassword).Wait(); err != nil {
				return fmt.Errorf("login: %w", err)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				return fmt.Errorf("select: %w", err)
			}
			return nil
		}()
	}()
	select {
	case err := <-checked:
		if err != nil {
			t.Errorf("while searches run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("delivery's lookups or SELECT waited for the searches")
	}
	close(release)
	for range conns {
		if err := <-done; err != nil {
			t.Errorf("search: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most > maxSearches {
		t.Errorf("%d searches ran at once, want at most %d", most, maxSearches)
	}
}
