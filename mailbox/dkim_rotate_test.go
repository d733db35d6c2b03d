package mailbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pillarbox/store"
)

// publishedSet answers KeyPublishedFunc from a set of selectors, or
// fails for any name in failing.
type publishedSet struct {
	seen, failing map[string]bool
}

func (p publishedSet) lookup(_ context.Context, k DKIMKey) (bool, error) {
	if p.failing[k.Selector] {
		return false, fmt.Errorf("lookup of %s timed out", k.Selector)
	}
	return p.seen[k.Selector], nil
}

func selectorsOf(keys []DKIMKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Selector+":"+k.State)
	}
	return out
}

func domainKeys(t *testing.T, s *Service, d string) []string {
	t.Helper()
	doms, err := s.Domains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, dom := range doms {
		if dom.Name == d {
			return selectorsOf(dom.Keys)
		}
	}
	t.Fatalf("no domain %s", d)
	return nil
}

func TestDKIMRotation(t *testing.T) {
	s, _ := newTestService(t)
	ctx := context.Background()
	clock := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return clock }
	if _, err := s.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	signing := func() []string {
		keys, err := s.DKIMSigningKeys(ctx, "example.net")
		if err != nil {
			t.Fatal(err)
		}
		return selectorsOf(keys)
	}
	first := []string{"pb202611r:active", "pb202611e:active"}
	if got := signing(); !slices.Equal(got, first) {
		t.Fatalf("signing keys %v", got)
	}

	rot, err := s.RotateDKIM(ctx, "Example.NET")
	if err != nil {
		t.Fatal(err)
	}
	if got := selectorsOf(rot.Pending); !slices.Equal(got, []string{"pb202611r2:pending", "pb202611e2:pending"}) || len(rot.Forgotten) != 0 {
		t.Fatalf("rotation %v, forgot %v", got, rot.Forgotten)
	}
	if got := signing(); !slices.Equal(got, first) {
		t.Fatalf("pending keys sign, or the old stopped: %v", got)
	}
	if _, err := s.RotateDKIM(ctx, "example.net"); !errors.Is(err, ErrRotationPending) {
		t.Fatalf("second rotation while one waits: %v", err)
	}

	// Nothing published, then one of two, then a failing lookup: no switch.
	for _, p := range []publishedSet{
		{},
		{seen: map[string]bool{"pb202611r2": true}},
		{seen: map[string]bool{"pb202611r2": true}, failing: map[string]bool{"pb202611e2": true}},
	} {
		checks, err := s.PromoteDKIM(ctx, p.lookup)
		if err != nil || len(checks) != 1 || checks[0].Promoted {
			t.Fatalf("with %v published: %+v, %v", p.seen, checks, err)
		}
		if got := signing(); !slices.Equal(got, first) {
			t.Fatalf("switched before every record was seen: %v", got)
		}
	}
	checks, _ := s.PromoteDKIM(ctx, publishedSet{seen: map[string]bool{"pb202611r2": true}}.lookup)
	if len(checks[0].Missing) != 1 || checks[0].Missing[0].Selector != "pb202611e2" || checks[0].Err != nil {
		t.Fatalf("check %+v", checks[0])
	}

	clock = clock.Add(time.Hour)
	both := publishedSet{seen: map[string]bool{"pb202611r2": true, "pb202611e2": true}}
	checks, err = s.PromoteDKIM(ctx, both.lookup)
	if err != nil || len(checks) != 1 || !checks[0].Promoted || len(checks[0].Retired) != 2 {
		t.Fatalf("promotion: %+v, %v", checks, err)
	}
	if got := signing(); !slices.Equal(got, []string{"pb202611r2:active", "pb202611e2:active"}) {
		t.Fatalf("signing after the switch: %v", got)
	}
	if got := domainKeys(t, s, "example.net"); !slices.Equal(got, []string{"pb202611r:retiring", "pb202611e:retiring", "pb202611r2:active", "pb202611e2:active"}) {
		t.Fatalf("keys after the switch: %v", got)
	}
	if checks, _ := s.PromoteDKIM(ctx, both.lookup); len(checks) != 0 {
		t.Fatalf("a check with nothing pending: %+v", checks)
	}

	// A rotation within a week keeps the retired keys; one after forgets
	// them. Each rotation's selectors are new, the cancelled one's too.
	if rot, err = s.RotateDKIM(ctx, "example.net"); err != nil || len(rot.Forgotten) != 0 {
		t.Fatalf("rotation a day later: %+v, %v", rot, err)
	}
	if _, err := s.CancelDKIMRotation(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CancelDKIMRotation(ctx, "example.net"); err == nil {
		t.Fatal("a second cancel found something to cancel")
	}
	clock = clock.Add(RetiredKeyKeep)
	rot, err = s.RotateDKIM(ctx, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	if got := selectorsOf(rot.Forgotten); !slices.Equal(got, []string{"pb202611r:retiring", "pb202611e:retiring"}) {
		t.Fatalf("forgotten %v", got)
	}
	if got := selectorsOf(rot.Pending); !slices.Equal(got, []string{"pb202611r4:pending", "pb202611e4:pending"}) {
		t.Fatalf("pending %v", got)
	}
	if got := signing(); !slices.Equal(got, []string{"pb202611r2:active", "pb202611e2:active"}) {
		t.Fatalf("signing %v", got)
	}
}

// TestDKIMPromotionChecksWhatIsPending: a rotation cancelled and made
// again between the lookup and the switch must not make the newer keys,
// whose records nobody saw, sign.
func TestDKIMPromotionChecksWhatIsPending(t *testing.T) {
	s, _ := newTestService(t)
	ctx := context.Background()
	if _, err := s.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	rot, err := s.RotateDKIM(ctx, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	raced := false
	lookup := func(ctx context.Context, k DKIMKey) (bool, error) {
		if !raced {
			raced = true
			if _, err := s.CancelDKIMRotation(ctx, "example.net"); err != nil {
				return false, err
			}
			if _, err := s.RotateDKIM(ctx, "example.net"); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	checks, err := s.PromoteDKIM(ctx, lookup)
	if err != nil || len(checks) != 1 || checks[0].Promoted {
		t.Fatalf("promoted keys that were replaced: %+v, %v", checks, err)
	}
	keys, _ := s.DKIMSigningKeys(ctx, "example.net")
	for _, k := range keys {
		if k.State != store.DKIMActive || k.Selector == rot.Pending[0].Selector {
			t.Fatalf("signing with %v", k)
		}
	}
	if _, err := s.RotateDKIM(ctx, "nowhere.example"); err == nil {
		t.Fatal("rotated a domain that does not exist")
	}
}

// Two nodes told to rotate a domain's keys at the same moment start one
// rotation: the other is refused as pending, over and over.
func TestDKIMRotationOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, _, _ := twoNodes(t, Options{})
	ctx := context.Background()
	if _, err := a.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	for round := range 8 {
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, svc := range []*Service{a, b} {
			wg.Go(func() { _, errs[i] = svc.RotateDKIM(ctx, "example.net") })
		}
		wg.Wait()
		started := 0
		for _, err := range errs {
			switch {
			case err == nil:
				started++
			case !errors.Is(err, ErrRotationPending):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if started != 1 {
			t.Fatalf("round %d: %d rotations started, want 1 (errors %v)", round, started, errs)
		}
		if _, err := a.CancelDKIMRotation(ctx, "example.net"); err != nil {
			t.Fatal(err)
		}
	}
}
