package mailbox

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"pillarbox/store"
)

func TestAddDomainMakesKeysAndPostmaster(t *testing.T) {
	s, _ := newTestService(t)
	ctx := context.Background()
	if s.IsLocalDomain("example.net") {
		t.Fatal("example.net local before it was added")
	}
	added, err := s.AddDomain(ctx, "Example.NET")
	if err != nil {
		t.Fatal(err)
	}
	if added.Domain.Name != "example.net" || added.Postmaster != "postmaster@example.net" || added.Password == "" {
		t.Fatalf("added %+v", added)
	}
	if !s.IsLocalDomain("example.net") {
		t.Fatal("example.net not local after AddDomain")
	}
	if _, err := s.Authenticate(ctx, "postmaster@example.net", added.Password); err != nil {
		t.Fatalf("postmaster login with the printed password: %v", err)
	}
	keys, err := s.DKIMSigningKeys(ctx, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Selector == keys[1].Selector {
		t.Fatalf("keys %v", keys)
	}
	for _, k := range keys {
		switch pub := k.Public().(type) {
		case *rsa.PublicKey:
			if k.Algorithm != store.DKIMRSASHA256 || pub.N.BitLen() != 2048 || k.Selector != "pb202311r" {
				t.Errorf("RSA key %v of %d bits", k, pub.N.BitLen())
			}
		case ed25519.PublicKey:
			if k.Algorithm != store.DKIMEd25519SHA256 || k.Selector != "pb202311e" {
				t.Errorf("Ed25519 key %v", k)
			}
		default:
			t.Errorf("key type %T", pub)
		}
	}
	if _, err := s.AddDomain(ctx, "example.net"); !errors.Is(err, ErrExists) {
		t.Fatalf("second AddDomain: %v", err)
	}
	if _, err := s.AddDomain(ctx, "not a domain"); err == nil {
		t.Fatal("AddDomain took a bad name")
	}
	doms, err := s.Domains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintln(len(doms), doms[0].Name, doms[0].InDatabase, doms[0].InConfig, doms[1].Name, doms[1].InDatabase, len(doms[1].Keys))
	if got != "2 example.net true false example.org false 0\n" {
		t.Fatalf("Domains: %s", got)
	}
}

// A postmaster@ that is already an alias stays one.
func TestAddDomainKeepsPostmasterAlias(t *testing.T) {
	s, _ := newTestService(t, "example.org", "example.com")
	ctx := context.Background()
	mustAddUser(t, s, "bob@example.org")
	if err := s.SetAlias(ctx, "postmaster@example.com", []string{"bob@example.org"}); err != nil {
		t.Fatal(err)
	}
	added, err := s.EnsureDomains(ctx, []string{"example.org", "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 2 || added[0].Postmaster != "postmaster@example.org" || added[1].Postmaster != "" {
		t.Fatalf("added %+v", added)
	}
	// At the next start nothing is added again.
	if again, err := s.EnsureDomains(ctx, []string{"example.org", "example.com"}); err != nil || len(again) != 0 {
		t.Fatalf("second EnsureDomains: %v, %v", again, err)
	}
}

// A domain added or deleted by another process (another Service over the
// same database, as the CLI is) reaches this one: an addition at once, a
// deletion within domainRecheck.
func TestDomainsFromAnotherProcess(t *testing.T) {
	s, db := newTestService(t)
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	s.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cli, err := New(db, Options{Domains: []string{"example.org"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if s.IsLocalDomain("other.test") {
		t.Fatal("local before it was added")
	}
	if _, err := cli.AddDomain(ctx, "other.test"); err != nil {
		t.Fatal(err)
	}
	if !s.IsLocalDomain("other.test") {
		t.Fatal("a domain the CLI added is not local in the server")
	}
	if keys, err := s.DKIMSigningKeys(ctx, "other.test"); err != nil || len(keys) != 2 {
		t.Fatalf("keys in the server: %v, %v", keys, err)
	}
	if err := cli.DeleteDomain(ctx, "other.test", false); err != nil {
		t.Fatal(err)
	}
	if !s.IsLocalDomain("other.test") {
		t.Fatal("the cached answer was not used within domainRecheck")
	}
	mu.Lock()
	now = now.Add(domainRecheck + time.Millisecond)
	mu.Unlock()
	if s.IsLocalDomain("other.test") {
		t.Fatal("a domain the CLI deleted is still local after domainRecheck")
	}
	if keys, err := s.DKIMSigningKeys(ctx, "other.test"); err != nil || len(keys) != 0 {
		t.Fatalf("keys of a deleted domain: %v, %v", keys, err)
	}
}

func TestDeleteDomain(t *testing.T) {
	s, _ := newTestService(t)
	ctx := context.Background()
	if _, err := s.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	mustAddUser(t, s, "carol@example.net")
	if err := s.SetAlias(ctx, "team@example.net", []string{"carol@example.net"}); err != nil {
		t.Fatal(err)
	}
	err := s.DeleteDomain(ctx, "example.net", false)
	if err == nil || !strings.Contains(err.Error(), "1 other account(s) and 1 alias(es)") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("delete in use: %v", err)
	}
	if !s.IsLocalDomain("example.net") {
		t.Fatal("refused delete removed the domain")
	}
	if err := s.DeleteDomain(ctx, "example.org", true); err == nil || !strings.Contains(err.Error(), "config") {
		t.Fatalf("delete of a config domain: %v", err)
	}
	if err := s.DeleteDomain(ctx, "nowhere.test", false); err == nil || !strings.Contains(err.Error(), "no domain nowhere.test") {
		t.Fatalf("delete of an unknown domain: %v", err)
	}
	if err := s.DeleteDomain(ctx, "example.net", true); err != nil {
		t.Fatal(err)
	}
	if s.IsLocalDomain("example.net") {
		t.Fatal("deleted domain still local")
	}
	if users, _ := s.Users(ctx); len(users) != 0 {
		t.Fatalf("users left: %v", users)
	}
	if aliases, _ := s.Aliases(ctx); len(aliases) != 0 {
		t.Fatalf("aliases left: %v", aliases)
	}
	// Only the postmaster: deleted without --force.
	if _, err := s.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDomain(ctx, "example.net", false); err != nil {
		t.Fatalf("delete with only postmaster@: %v", err)
	}
}

// The private key never shows in what is printed or logged of a key.
func TestDKIMKeyNeverPrintsPrivateHalf(t *testing.T) {
	s, _ := newTestService(t)
	var logs bytes.Buffer
	s.log = slog.New(slog.NewTextHandler(&logs, nil))
	added, err := s.AddDomain(context.Background(), "example.net")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range added.Domain.Keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		var priv string
		switch sk := k.Signer.(type) {
		case *rsa.PrivateKey:
			priv = sk.D.String()
		case ed25519.PrivateKey:
			priv = fmt.Sprintf("%x", sk.Seed())
		}
		slog.New(slog.NewTextHandler(&logs, nil)).Info("key", "key", k)
		for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%+v %#v", k, k), fmt.Sprintf("%v", added), logs.String()} {
			if strings.Contains(out, priv) || bytes.Contains([]byte(out), der) {
				t.Errorf("%s: private key printed: %q", k.Selector, out)
			}
		}
	}
}
