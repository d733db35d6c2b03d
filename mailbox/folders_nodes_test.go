package mailbox

import (
	"context"
	"fmt"
	"pillarbox/store/storetest"
	"sync"
	"testing"
)

// Two servers on one store create folders under the same new parent at
// the same moment: each CREATE succeeds, and the parent exists once.
func TestCreateSharedParentFromTwoServers(t *testing.T) {
	t.Parallel()
	loc := storetest.New(t, pg)
	var svcs [2]*Service
	for i := range svcs {
		s, err := New(loc.Open(t), Options{Domains: []string{"example.org"}, BcryptCost: 4})
		if err != nil {
			t.Fatal(err)
		}
		svcs[i] = s
	}
	ctx := context.Background()
	mustAddUser(t, svcs[0], "alice@example.org")
	acct, err := svcs[0].Authenticate(ctx, "alice@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		var wg sync.WaitGroup
		for i, s := range svcs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.CreateFolder(ctx, acct.ID, fmt.Sprintf("p%d/c%d", round, i), ""); err != nil {
					t.Errorf("round %d, server %d: %v", round, i, err)
				}
			}()
		}
		wg.Wait()
	}
	folders, err := svcs[1].Folders(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, f := range folders {
		seen[f.Name]++
	}
	for round := range 20 {
		for _, n := range []string{fmt.Sprintf("p%d", round), fmt.Sprintf("p%d/c0", round), fmt.Sprintf("p%d/c1", round)} {
			if seen[n] != 1 {
				t.Errorf("folder %s listed %d times", n, seen[n])
			}
		}
	}
}
