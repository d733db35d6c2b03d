package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pillarbox/smtp/relay/tlspolicy"
	"pillarbox/store/storetest"
)

// The database-backed MTA-STS store keeps what Policies needs: a policy
// put is read back equal, Stale finds it when due, Delete removes it.
func TestMTASTSStore(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, pg)
	ctx := context.Background()
	s := mtastsStore{db: db}
	if _, ok, err := s.Get(ctx, "remote.test"); ok || err != nil {
		t.Fatalf("Get of nothing: %v, %v", ok, err)
	}
	pol, err := tlspolicy.Parse("version: STSv1\nmode: enforce\nmx: mx.remote.test\nmx: *.backup.test\nmax_age: 86400\n")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	rec := tlspolicy.Record{Domain: "remote.test", ID: "20261124", Policy: pol, Fetched: t0, Expires: t0.Add(24 * time.Hour), LastUsed: t0}
	if err := s.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, "remote.test")
	if err != nil || !ok {
		t.Fatalf("Get: %v, %v", ok, err)
	}
	if got.ID != rec.ID || got.Policy.String() != pol.String() || !got.Fetched.Equal(t0) || !got.Expires.Equal(rec.Expires) ||
		!got.Policy.Matches("a.backup.test") {
		t.Errorf("Get = %+v, want %+v", got, rec)
	}
	if l, _ := s.Stale(ctx, t0, t0.Add(time.Hour)); len(l) != 0 {
		t.Errorf("Stale before due: %+v", l)
	}
	if l, _ := s.Stale(ctx, t0.Add(time.Second), t0); len(l) != 1 || l[0].Domain != "remote.test" {
		t.Errorf("Stale when due: %+v", l)
	}
	if err := s.Delete(ctx, "remote.test"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "remote.test"); ok {
		t.Error("still there after Delete")
	}
}

// countingStore is a MemoryStore that says when Refresh asked it for
// stale policies.
type countingStore struct {
	*tlspolicy.MemoryStore
	asked chan struct{}
}

func (c countingStore) Stale(ctx context.Context, f, e time.Time) ([]tlspolicy.Record, error) {
	c.asked <- struct{}{}
	return c.MemoryStore.Stale(ctx, f, e)
}

// The refresh worker refreshes at each tick and stops with its context.
func TestRefreshPolicies(t *testing.T) {
	t.Parallel()
	st := countingStore{MemoryStore: tlspolicy.NewMemoryStore(), asked: make(chan struct{}, 1)}
	p := tlspolicy.New(tlspolicy.Options{Store: st})
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- refreshPolicies(ctx, p, tick, slog.New(slog.NewTextHandler(&logs, nil))) }()
	for range 2 {
		tick <- time.Now()
		select {
		case <-st.asked:
		case <-time.After(10 * time.Second):
			t.Fatal("no refresh after a tick")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("refreshPolicies: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("refreshPolicies did not stop")
	}
}

func TestSmarthostPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	c := DefaultConfig()
	c.Relay.SmarthostPassword = "inline"
	if pw, err := smarthostPassword(c); pw != "inline" || err != nil {
		t.Errorf("inline: %q, %v", pw, err)
	}
	c.Relay.SmarthostPassword = ""
	c.Relay.SmarthostPasswordFile = write("pw", "s3cret pass\r\nsecond line\n")
	if pw, err := smarthostPassword(c); pw != "s3cret pass" || err != nil {
		t.Errorf("file: %q, %v", pw, err)
	}
	c.Relay.SmarthostPasswordFile = write("empty", "\nx\n")
	if _, err := smarthostPassword(c); err == nil || !strings.Contains(err.Error(), "first line is empty") {
		t.Errorf("empty first line: %v", err)
	}
	c.Relay.SmarthostPasswordFile = filepath.Join(dir, "missing")
	if _, err := smarthostPassword(c); err == nil || !strings.Contains(err.Error(), "relay.smarthost_password_file") {
		t.Errorf("missing file: %v", err)
	}
}
