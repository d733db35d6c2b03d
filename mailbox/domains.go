package mailbox

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pillarbox/store"
)

// Domain is a local domain.
type Domain struct {
	Name    string // ASCII (punycode), lower-case
	Created time.Time
	// InDatabase is false for a domain of the config's list that serve
	// has not yet added to the database (it has no keys until then).
	InDatabase bool
	// InConfig says the config's domains list names it.
	InConfig bool
	Keys     []DKIMKey
}

// DKIMKey is a DKIM signing key of a local domain. The private half is
// only reachable through Signer; the key never prints or logs it.
type DKIMKey struct {
	Domain    string
	Selector  string
	Algorithm string // store.DKIMRSASHA256 or store.DKIMEd25519SHA256
	State     string // store.DKIMPending, DKIMActive or DKIMRetiring
	Created   time.Time
	Changed   time.Time // when State last changed
	Signer    crypto.Signer
	id        int64 // the store's, 0 until stored
}

// Public returns the key's public half.
func (k DKIMKey) Public() crypto.PublicKey { return k.Signer.Public() }

// String names the key without its secret.
func (k DKIMKey) String() string {
	return k.Selector + "._domainkey." + k.Domain + " (" + k.Algorithm + ")"
}

// LogValue keeps the private key out of logs.
func (k DKIMKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Format keeps the private key out of fmt's %v and %+v.
func (k DKIMKey) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// DomainAdded is what AddDomain made.
type DomainAdded struct {
	Domain Domain
	// Postmaster is the postmaster@ account AddDomain made, with its
	// generated Password; both empty when the address already was an
	// account or an alias.
	Postmaster, Password string
}

// dkimSelectors returns the selectors of a pair of keys made in the month
// of now: "pb<yyyymm>r" (RSA) and "pb<yyyymm>e" (Ed25519) for n 1 (a new
// domain's), "pb<yyyymm>r<n>" and "pb<yyyymm>e<n>" for a rotation's n.
// The date tells an operator which records are current.
func dkimSelectors(now time.Time, n int) (rsaSel, edSel string) {
	p := "pb" + now.UTC().Format("200601")
	suffix := ""
	if n > 1 {
		suffix = strconv.Itoa(n)
	}
	return p + "r" + suffix, p + "e" + suffix
}

// rsaKeyBits is the size of new RSA keys: RFC 8301 3.2 asks signers for
// at least 1024 bits and recommends 2048.
const rsaKeyBits = 2048

// makeDKIMKeys makes a domain's pair of keys, RSA-2048 (rsa-sha256) and
// Ed25519 (ed25519-sha256, RFC 8463), in state, with their PKCS#8 forms
// to store.
func makeDKIMKeys(domain, rsaSel, edSel, state string, now time.Time) ([]DKIMKey, [][]byte, error) {
	rk, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
	if err != nil {
		return nil, nil, fmt.Errorf("mailbox: RSA key: %w", err)
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("mailbox: Ed25519 key: %w", err)
	}
	keys := []DKIMKey{
		{Domain: domain, Selector: rsaSel, Algorithm: store.DKIMRSASHA256, State: state, Created: now, Changed: now, Signer: rk},
		{Domain: domain, Selector: edSel, Algorithm: store.DKIMEd25519SHA256, State: state, Created: now, Changed: now, Signer: ek},
	}
	ders := make([][]byte, len(keys))
	for i, k := range keys {
		if ders[i], err = x509.MarshalPKCS8PrivateKey(k.Signer); err != nil {
			return nil, nil, fmt.Errorf("mailbox: key %s: %w", k.Selector, err)
		}
	}
	return keys, ders, nil
}

// AddDomain makes a local domain in the database, with two DKIM keys
// (RSA-2048, rsa-sha256, and Ed25519, ed25519-sha256, RFC 8463) and its
// postmaster@ account (RFC 5321 4.5.1) unless that address already is
// an account or an alias. ErrExists if the domain is in the database.
func (s *Service) AddDomain(ctx context.Context, name string) (DomainAdded, error) {
	d, err := NormalizeDomain(name)
	if err != nil {
		return DomainAdded{}, err
	}
	// A domain already there is refused before making keys for nothing
	// (serve calls this at every start); the transaction checks again.
	if snap, err := s.loadDomains(ctx); err != nil {
		return DomainAdded{}, err
	} else if snap.names[d] {
		return DomainAdded{}, fmt.Errorf("%w: domain %s", ErrExists, d)
	}
	// The slow parts (key generation, bcrypt) run before the write
	// transaction, which they would otherwise hold up.
	now := s.now()
	rsaSel, edSel := dkimSelectors(now, 1)
	keys, ders, err := makeDKIMKeys(d, rsaSel, edSel, store.DKIMActive, now)
	if err != nil {
		return DomainAdded{}, err
	}
	postmaster := "postmaster@" + d
	password := GeneratePassword()
	hash, err := s.hashPassword(password)
	if err != nil {
		return DomainAdded{}, err
	}
	made := false
	err = s.write(ctx, func(tx store.Tx) error {
		made = false
		id, err := tx.CreateDomain(d, now)
		if err != nil {
			return err
		}
		for i, k := range keys {
			if _, err := tx.AddDKIMKey(id, k.Selector, k.Algorithm, k.State, ders[i], now); err != nil {
				return err
			}
		}
		if _, err := tx.AccountByAddress(postmaster); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// No default quota for postmaster@: the DMARC and TLS reports
		// the published records ask for come here, and a full postmaster
		// would refuse the abuse reports RFC 5321 4.5.1 sends to it.
		_, err = createAccount(tx, postmaster, hash, now, 0)
		if errors.Is(err, store.ErrExists) {
			return nil // an alias: mail to postmaster goes somewhere already
		}
		if err != nil {
			return err
		}
		made = true
		return nil
	})
	if errors.Is(err, store.ErrExists) {
		return DomainAdded{}, fmt.Errorf("%w: domain %s", ErrExists, d)
	}
	if err != nil {
		return DomainAdded{}, err
	}
	s.refreshDomains(ctx, true)
	out := DomainAdded{Domain: Domain{Name: d, Created: now, InDatabase: true, InConfig: s.domains[d], Keys: keys}}
	if made {
		out.Postmaster, out.Password = postmaster, password
	}
	s.log.Info("domain added", "domain", d, "keys", []string{keys[0].String(), keys[1].String()}, "postmaster_made", made)
	return out, nil
}

// EnsureDomains adds each of names to the database unless it is there,
// as AddDomain does; serve calls it at start with the config's domains,
// so that they get their keys and postmaster@ once.
func (s *Service) EnsureDomains(ctx context.Context, names []string) ([]DomainAdded, error) {
	var out []DomainAdded
	for _, n := range names {
		a, err := s.AddDomain(ctx, n)
		if errors.Is(err, ErrExists) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Domains lists the local domains: those in the database, with their
// keys, and those of the config not yet added, ordered by name.
func (s *Service) Domains(ctx context.Context) ([]Domain, error) {
	snap, err := s.loadDomains(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Domains(ctx)
	if err != nil {
		return nil, err
	}
	var out []Domain
	seen := make(map[string]bool)
	for _, r := range rows {
		seen[r.Name] = true
		out = append(out, Domain{Name: r.Name, Created: r.Created, InDatabase: true, InConfig: s.domains[r.Name], Keys: snap.keys[r.Name]})
	}
	for n := range s.domains {
		if !seen[n] {
			out = append(out, Domain{Name: n, InConfig: true})
		}
	}
	slices.SortFunc(out, func(a, b Domain) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteDomain removes a domain and its keys from the database. While
// accounts or aliases other than its postmaster@ use it, it is refused
// unless force, which deletes them (and their mail) too. A domain of the
// config's list is refused: serve would add it again at start.
func (s *Service) DeleteDomain(ctx context.Context, name string, force bool) error {
	d, err := NormalizeDomain(name)
	if err != nil {
		return err
	}
	if s.domains[d] {
		return fmt.Errorf("mailbox: domain %s is in the config's domains list: remove it there first", d)
	}
	postmaster := "postmaster@" + d
	err = s.write(ctx, func(tx store.Tx) error {
		if _, err := tx.DomainByName(d); err != nil {
			return err
		}
		accts, aliases, err := tx.DomainUsers(d)
		if err != nil {
			return err
		}
		if _, err := tx.AccountByAddress(postmaster); err == nil {
			accts--
		}
		if (accts > 0 || aliases > 0) && !force {
			return fmt.Errorf("mailbox: domain %s still has %d other account(s) and %d alias(es): delete them first, or use --force to delete them with the domain", d, accts, aliases)
		}
		if err := tx.DeleteDomainUsers(d); err != nil {
			return err
		}
		return tx.DeleteDomain(d)
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("mailbox: no domain %s", d)
	}
	if err != nil {
		return err
	}
	s.refreshDomains(ctx, true)
	s.log.Info("domain deleted", "domain", d, "force", force)
	return s.CheckSessions(ctx)
}

// DKIMSigningKeys returns the active keys of a local domain in the
// database, none if it has none. They come from the cache that
// IsLocalDomain keeps, reloaded when domains change.
func (s *Service) DKIMSigningKeys(ctx context.Context, domain string) ([]DKIMKey, error) {
	snap, err := s.loadDomains(ctx)
	if err != nil {
		return nil, err
	}
	var out []DKIMKey
	for _, k := range snap.keys[domain] {
		if k.State == store.DKIMActive {
			out = append(out, k)
		}
	}
	return out, nil
}

// domainSnapshot is the database's domains and keys at one generation of
// the domains counter.
type domainSnapshot struct {
	gen   int64
	names map[string]bool
	keys  map[string][]DKIMKey
}

// domainCache holds the current snapshot. IsLocalDomain is called for
// every address, with no context, so it reads the snapshot lock-free; a
// miss (an address not local as far as the snapshot knows) or a snapshot
// older than domainRecheck reads the domains counter, one cheap row, and
// reloads when it moved. So a domain the CLI adds in another process is
// local at once, and one it deletes stops being local within
// domainRecheck. Changes made through this Service reload at once.
type domainCache struct {
	snap    atomic.Pointer[domainSnapshot]
	checked atomic.Int64 // unix nanoseconds when snap's gen was last read
	mu      sync.Mutex   // one reload at a time
}

const domainRecheck = time.Second

// domainLookupTimeout bounds the counter read IsLocalDomain makes with
// no context of its own.
const domainLookupTimeout = 5 * time.Second

// IsLocalDomain reports whether domain (normalised) is one of the local
// domains: the config's or the database's.
func (s *Service) IsLocalDomain(domain string) bool {
	if s.domains[domain] {
		return true
	}
	snap := s.dc.snap.Load()
	if snap != nil && snap.names[domain] && time.Duration(s.now().UnixNano()-s.dc.checked.Load()) < domainRecheck {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), domainLookupTimeout)
	defer cancel()
	if fresh, err := s.loadDomains(ctx); err == nil {
		snap = fresh
	} else {
		s.log.Error("mailbox: reading the local domains", "err", err)
	}
	return snap != nil && snap.names[domain]
}

// loadDomains returns the snapshot, reloaded first if the counter moved.
func (s *Service) loadDomains(ctx context.Context) (*domainSnapshot, error) {
	return s.refreshDomains(ctx, false)
}

// refreshDomains reads the counter and reloads when it moved, or always
// when force.
func (s *Service) refreshDomains(ctx context.Context, force bool) (*domainSnapshot, error) {
	// The counter is read without the lock: most calls find it unchanged
	// and need nothing else.
	old := s.dc.snap.Load()
	gen, err := s.db.DomainsGeneration(ctx)
	if err != nil {
		return old, err
	}
	now := s.now()
	if old != nil && old.gen == gen && !force {
		s.dc.checked.Store(now.UnixNano())
		return old, nil
	}
	s.dc.mu.Lock()
	defer s.dc.mu.Unlock()
	if cur := s.dc.snap.Load(); cur != old && cur != nil && cur.gen >= gen && !force {
		return cur, nil // reloaded by another caller meanwhile
	}
	doms, err := s.db.Domains(ctx)
	if err != nil {
		return old, err
	}
	rows, err := s.db.DKIMKeys(ctx)
	if err != nil {
		return old, err
	}
	snap := &domainSnapshot{gen: gen, names: make(map[string]bool, len(doms)), keys: make(map[string][]DKIMKey)}
	for _, d := range doms {
		snap.names[d.Name] = true
	}
	for _, r := range rows {
		k, err := x509.ParsePKCS8PrivateKey(r.PrivateKey)
		if err != nil {
			// One bad key must not take the others down: it is left out.
			s.log.Error("mailbox: unreadable DKIM key", "domain", r.Domain, "selector", r.Selector, "err", err)
			continue
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			s.log.Error("mailbox: DKIM key cannot sign", "domain", r.Domain, "selector", r.Selector)
			continue
		}
		snap.keys[r.Domain] = append(snap.keys[r.Domain], DKIMKey{Domain: r.Domain, Selector: r.Selector,
			Algorithm: r.Algorithm, State: r.State, Created: r.Created, Changed: r.Changed, Signer: signer, id: r.ID})
	}
	s.dc.snap.Store(snap)
	s.dc.checked.Store(now.UnixNano())
	return snap, nil
}
