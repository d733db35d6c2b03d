package imap

import (
	"fmt"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestSortAndThread: SORT and THREAD (RFC 5256) through imapclient, and
// ESORT's RETURN through a raw connection, over messages whose subjects,
// senders and references say what the orders must be.
func TestSortAndThread(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msgs := []struct{ from, subject, id, refs string }{
		{"carol@example.net", "Lunch", "<a@x>", ""},
		{"alice@example.net", "Re: Lunch", "<b@x>", "<a@x>"},
		{"bob@example.net", "Budget", "<c@x>", ""},
		{"dave@example.net", "Re: [team] Re: lunch", "<d@x>", "<a@x> <b@x>"},
	}
	for i, m := range msgs {
		refs := ""
		if m.refs != "" {
			refs = "References: " + m.refs + "\n"
		}
		e.deliver("alice", fmt.Sprintf("From: %s\nTo: alice@example.org\nSubject: %s\nMessage-ID: %s\n%sDate: Mon, %d Jan 2024 10:00:00 +0000\n\nbody %d\n",
			m.from, m.subject, m.id, refs, 10-i, i))
	}
	c := e.client("alice")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sortBy := func(key imapclient.SortKey, reverse bool) []uint32 {
		t.Helper()
		got, err := c.Sort(&imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{},
			SortCriteria: []imapclient.SortCriterion{{Key: key, Reverse: reverse}}}).Wait()
		if err != nil {
			t.Fatalf("SORT %s: %v", key, err)
		}
		return got
	}
	// Base subjects: "budget", then the three "lunch" in sequence order.
	if got := sortBy(imapclient.SortKeySubject, false); !slices.Equal(got, []uint32{3, 1, 2, 4}) {
		t.Errorf("SORT (SUBJECT) = %v", got)
	}
	if got := sortBy(imapclient.SortKeyFrom, false); !slices.Equal(got, []uint32{2, 3, 1, 4}) {
		t.Errorf("SORT (FROM) = %v", got)
	}
	// The Date headers run backwards.
	if got := sortBy(imapclient.SortKeyDate, false); !slices.Equal(got, []uint32{4, 3, 2, 1}) {
		t.Errorf("SORT (DATE) = %v", got)
	}
	if got := sortBy(imapclient.SortKeyDate, true); !slices.Equal(got, []uint32{1, 2, 3, 4}) {
		t.Errorf("SORT (REVERSE DATE) = %v", got)
	}
	threads, err := c.Thread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: &imap.SearchCriteria{}}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	// Threads sorted by their first message's date: the budget mail (3)
	// is later than lunch's start (1), whose thread is 1 -> 2 -> 4.
	if got := fmt.Sprint(threads); got != "[{[3] []} {[1 2 4] []}]" && got != "[{[1 2 4] []} {[3] []}]" {
		t.Errorf("THREAD REFERENCES = %s", got)
	}
	r := e.raw("alice")
	r.ok("SELECT INBOX")
	contains(t, r.ok("SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL"), `* ESEARCH (TAG "t3") MIN 3 MAX 4 COUNT 4`)
	// ORDEREDSUBJECT: by base subject, each thread in date order under
	// its earliest message (4, then 2 and 1), threads by that date.
	contains(t, r.ok("UID THREAD ORDEREDSUBJECT UTF-8 ALL"), "* THREAD (4 (2)(1))(3)")
	r.expect("THREAD NOSUCH UTF-8 ALL", "BAD")
	r.expect("SORT (NOSUCH) UTF-8 ALL", "BAD")
}
