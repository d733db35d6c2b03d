package imap

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSaveDate: RFC 8514: SAVEDATE is when a message was saved in the
// folder (APPEND, COPY), not its internal date, and SAVEDBEFORE,
// SAVEDON, SAVEDSINCE and SAVEDATESUPPORTED search by it.
func TestSaveDate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.raw("alice")
	r.appendMsg("INBOX", `"01-Jan-2020 10:00:00 +0000" `, testMessage(1))
	r.ok("SELECT INBOX")
	today := time.Now().UTC()
	u := strings.Join(r.ok("FETCH 1 (INTERNALDATE SAVEDATE)"), "\n")
	if !strings.Contains(u, `INTERNALDATE " 1-Jan-2020`) || !strings.Contains(u, fmt.Sprintf(`SAVEDATE "%s`, today.Format("_2-Jan-2006"))) {
		t.Errorf("FETCH: %q, want SAVEDATE today", u)
	}
	yesterday, tomorrow := today.AddDate(0, 0, -1).Format("2-Jan-2006"), today.AddDate(0, 0, 1).Format("2-Jan-2006")
	contains(t, r.ok("SEARCH SAVEDSINCE "+yesterday), "* SEARCH 1")
	contains(t, r.ok("SEARCH SAVEDBEFORE "+tomorrow), "* SEARCH 1")
	contains(t, r.ok("SEARCH SAVEDON "+today.Format("2-Jan-2006")), "* SEARCH 1")
	contains(t, r.ok("SEARCH SAVEDATESUPPORTED"), "* SEARCH 1")
	for _, q := range []string{"SINCE " + yesterday, "SAVEDBEFORE " + yesterday, "NOT SAVEDATESUPPORTED"} {
		if got := r.ok("SEARCH " + q); len(got) != 1 || got[0] != "* SEARCH" {
			t.Errorf("SEARCH %s: %q", q, got)
		}
	}
	r.ok("CREATE Kept")
	r.ok("COPY 1 Kept")
	r.ok("SELECT Kept")
	u = strings.Join(r.ok("FETCH 1 (INTERNALDATE SAVEDATE)"), "\n")
	if !strings.Contains(u, `INTERNALDATE " 1-Jan-2020`) || !strings.Contains(u, fmt.Sprintf(`SAVEDATE "%s`, today.Format("_2-Jan-2006"))) {
		t.Errorf("FETCH of the copy: %q", u)
	}
}
