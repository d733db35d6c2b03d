package mailbox

import (
	"context"
	"errors"
	"pillarbox/store/storetest"
	"testing"
	"time"
)

// TestAuthCache: a verified password is remembered for its account and
// stored hash only, for the TTL only, and the cache stays bounded.
func TestAuthCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	c := newAuthCache(time.Hour, 4)
	if c.verified(1, "h1", "pw", now) {
		t.Fatal("verified before anything was remembered")
	}
	c.remember(1, "h1", "pw", now)
	for _, tt := range []struct {
		name   string
		id     int64
		stored string
		pw     string
		at     time.Time
		want   bool
	}{
		{"same", 1, "h1", "pw", now.Add(59 * time.Minute), true},
		{"wrong password", 1, "h1", "pW", now, false},
		{"changed hash (passwd)", 1, "h2", "pw", now, false},
		{"another account", 2, "h1", "pw", now, false},
		{"expired", 1, "h1", "pw", now.Add(time.Hour), false},
	} {
		if got := c.verified(tt.id, tt.stored, tt.pw, tt.at); got != tt.want {
			t.Errorf("%s: verified = %v, want %v", tt.name, got, tt.want)
		}
	}
	for id := range int64(100) {
		c.remember(id, "h", "pw", now)
		if n := len(c.entries); n > 4 {
			t.Fatalf("%d entries, bound 4", n)
		}
	}
}

// TestAuthenticateCached: a repeated correct login is answered from the
// cache, and what the CLI does in another process (passwd, del) takes
// effect at once, since the cache is checked against the stored hash.
func TestAuthenticateCached(t *testing.T) {
	t.Parallel()
	s, db := newTestService(t)
	ctx := context.Background()
	mustAddUser(t, s, "alice@example.org")
	if _, err := s.Authenticate(ctx, "alice@example.org", "secret"); err != nil {
		t.Fatal(err)
	}
	a, _ := db.AccountByAddress(ctx, "alice@example.org")
	if !s.auth.verified(a.ID, a.PasswordHash, "secret", s.now()) {
		t.Fatal("a correct login was not remembered")
	}
	if _, err := s.Authenticate(ctx, "alice@example.org", "secret"); err != nil {
		t.Fatalf("cached login: %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice@example.org", "wrong"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("wrong password after a cached login: %v", err)
	}
	// Another Service on the same database stands for the CLI's process.
	cli, err := New(db, Options{Domains: []string{"example.org"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.SetPassword(ctx, "alice@example.org", "changed pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice@example.org", "secret"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("old password after passwd elsewhere: %v, want ErrAuthFailed", err)
	}
	if _, err := s.Authenticate(ctx, "alice@example.org", "changed pw"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := cli.DeleteUser(ctx, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice@example.org", "changed pw"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("login after del elsewhere: %v, want ErrAuthFailed", err)
	}
}

// BenchmarkAuthenticate compares a repeated correct login, answered
// from the cache, with one that pays bcrypt at the default cost (10).
func BenchmarkAuthenticate(b *testing.B) {
	for _, cached := range []bool{true, false} {
		name := "bcrypt"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			db := storetest.Open(b, pg)
			svc, err := New(db, Options{Domains: []string{"example.org"}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := svc.AddUser(ctx, "alice@example.org", "secret pw"); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if !cached {
					svc.auth = newAuthCache(authCacheTTL, authCacheMax)
				}
				if _, err := svc.Authenticate(ctx, "alice@example.org", "secret pw"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
