package mailbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"pillarbox/store"
)

// DKIM key rotation. `dkim rotate` makes a new pair of keys, pending:
// the old pair keeps signing while the operator publishes the new
// records. PromoteDKIM, run by serve in the background and by
// `dkim check`, looks the pending records up; once every one of a
// domain's is seen, in one transaction the new pair starts signing and
// the old one retires. Selectors carry the month and a number never
// given twice (pb202611r, then pb202611r2, pb202612e7...). A retired key's record should stay published for
// RetiredKeyKeep, for mail signed with it still on its way or read
// later; the next rotation after that forgets the key.

// RetiredKeyKeep is how long a retired key is kept, and its record
// should stay published, after it stopped signing.
const RetiredKeyKeep = 7 * 24 * time.Hour

// ErrRotationPending refuses a rotation while another waits for its
// records.
var ErrRotationPending = errors.New("mailbox: a DKIM rotation is already waiting for its DNS records")

// DKIMRotation is what RotateDKIM made.
type DKIMRotation struct {
	Domain string
	// Pending are the new keys, whose records to publish.
	Pending []DKIMKey
	// Forgotten are retired keys deleted (retired longer than
	// RetiredKeyKeep ago): their records can be removed from DNS.
	Forgotten []DKIMKey
}

// RotateDKIM makes a new pair of keys for a local domain in the
// database, pending until PromoteDKIM sees their records in DNS.
// ErrRotationPending while an earlier rotation waits.
func (s *Service) RotateDKIM(ctx context.Context, name string) (DKIMRotation, error) {
	d, err := NormalizeDomain(name)
	if err != nil {
		return DKIMRotation{}, err
	}
	now := s.now()
	// The keys are made before the transaction (RSA is slow); their
	// selectors are chosen inside it, from the keys there then.
	keys, ders, err := makeDKIMKeys(d, "", "", store.DKIMPending, now)
	if err != nil {
		return DKIMRotation{}, err
	}
	var forgotten []DKIMKey
	err = s.write(ctx, func(tx store.Tx) error {
		forgotten = nil
		dom, err := tx.DomainByName(d)
		if err != nil {
			return err
		}
		// The serial first: its row's lock makes rotations wait for one
		// another, on every node, so each reads the keys the one before
		// committed (a refused one gives its serial back with its
		// rollback).
		serial, err := tx.NextSerial(dkimRotationSerial)
		if err != nil {
			return err
		}
		old, err := tx.DomainDKIMKeys(dom.ID)
		if err != nil {
			return err
		}
		var pending []string
		for _, k := range old {
			if k.State == store.DKIMPending {
				pending = append(pending, k.Selector)
			}
		}
		if len(pending) > 0 {
			return fmt.Errorf("%w (%s): publish them and run 'pillarbox dkim check', or 'pillarbox dkim cancel %s'",
				ErrRotationPending, strings.Join(pending, ", "), d)
		}
		// The first pair of a domain has no number: rotations start at 2.
		keys[0].Selector, keys[1].Selector = dkimSelectors(now, int(serial)+1)
		for _, k := range old {
			if k.State == store.DKIMRetiring && now.Sub(k.Changed) >= RetiredKeyKeep {
				if err := tx.DeleteDKIMKey(k.ID); err != nil {
					return err
				}
				forgotten = append(forgotten, keyFacts(k))
			}
		}
		for i, k := range keys {
			if _, err := tx.AddDKIMKey(dom.ID, k.Selector, k.Algorithm, k.State, ders[i], now); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return DKIMRotation{}, fmt.Errorf("mailbox: no domain %s in the database", d)
	}
	if err != nil {
		return DKIMRotation{}, err
	}
	s.refreshDomains(ctx, true)
	s.log.Info("DKIM rotation started", "domain", d, "pending", []string{keys[0].String(), keys[1].String()}, "forgotten", len(forgotten))
	return DKIMRotation{Domain: d, Pending: keys, Forgotten: forgotten}, nil
}

// keyFacts describes a stored key that is gone or changed and is only
// reported: its Signer is nil, so it has no Public either.
func keyFacts(k store.DKIMKey) DKIMKey {
	return DKIMKey{Domain: k.Domain, Selector: k.Selector, Algorithm: k.Algorithm, State: k.State, Created: k.Created, Changed: k.Changed}
}

// dkimRotationSerial names the counter that numbers rotations, so that a
// selector is never given to a second key, even after the first key was
// cancelled or forgotten (its record may still be published).
const dkimRotationSerial = "dkim_rotation_serial"

// CancelDKIMRotation deletes a domain's pending keys, and returns them.
func (s *Service) CancelDKIMRotation(ctx context.Context, name string) ([]DKIMKey, error) {
	d, err := NormalizeDomain(name)
	if err != nil {
		return nil, err
	}
	var gone []DKIMKey
	err = s.write(ctx, func(tx store.Tx) error {
		gone = nil
		dom, err := tx.DomainByName(d)
		if err != nil {
			return err
		}
		keys, err := tx.DomainDKIMKeys(dom.ID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.State != store.DKIMPending {
				continue
			}
			if err := tx.DeleteDKIMKey(k.ID); err != nil {
				return err
			}
			gone = append(gone, keyFacts(k))
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("mailbox: no domain %s in the database", d)
	}
	if err != nil {
		return nil, err
	}
	if len(gone) == 0 {
		return nil, fmt.Errorf("mailbox: %s has no DKIM rotation waiting", d)
	}
	s.refreshDomains(ctx, true)
	s.log.Info("DKIM rotation cancelled", "domain", d, "keys", len(gone))
	return gone, nil
}

// DKIMCheck is what PromoteDKIM found for one domain with pending keys.
type DKIMCheck struct {
	Domain string
	// Seen and Missing are the pending keys whose records were and were
	// not found.
	Seen, Missing []DKIMKey
	// Promoted says the pending keys now sign; Retired are the keys they
	// replaced.
	Promoted bool
	Retired  []DKIMKey
	// Err is a failed lookup; nothing changed for the domain then.
	Err error
}

// KeyPublishedFunc reports whether k's record is published in DNS as
// receivers will see it.
type KeyPublishedFunc func(ctx context.Context, k DKIMKey) (bool, error)

// PromoteDKIM checks the records of every domain's pending keys with
// published. A domain whose pending records are all seen switches: its
// pending keys become active and its active keys retire, in one
// transaction. One result per domain with pending keys.
func (s *Service) PromoteDKIM(ctx context.Context, published KeyPublishedFunc) ([]DKIMCheck, error) {
	snap, err := s.loadDomains(ctx)
	if err != nil {
		return nil, err
	}
	doms := make([]string, 0, len(snap.keys))
	for d := range snap.keys {
		doms = append(doms, d)
	}
	slices.Sort(doms)
	var out []DKIMCheck
	for _, d := range doms {
		c := DKIMCheck{Domain: d}
		for _, k := range snap.keys[d] {
			if k.State != store.DKIMPending {
				continue
			}
			ok, err := published(ctx, k)
			switch {
			case err != nil:
				c.Err = err
			case ok:
				c.Seen = append(c.Seen, k)
			default:
				c.Missing = append(c.Missing, k)
			}
		}
		if len(c.Seen)+len(c.Missing) == 0 && c.Err == nil {
			continue
		}
		if c.Err == nil && len(c.Missing) == 0 {
			c.Promoted, c.Retired, c.Err = s.promote(ctx, d, c.Seen)
		}
		out = append(out, c)
	}
	if slices.ContainsFunc(out, func(c DKIMCheck) bool { return c.Promoted }) {
		s.refreshDomains(ctx, true)
	}
	return out, nil
}

// promote makes the keys seen active and retires the active ones, if the
// domain's pending keys are still exactly those seen (a cancel or a new
// rotation may have come in between).
func (s *Service) promote(ctx context.Context, domain string, seen []DKIMKey) (bool, []DKIMKey, error) {
	var retired []DKIMKey
	done := false
	now := s.now()
	err := s.write(ctx, func(tx store.Tx) error {
		retired, done = nil, false
		dom, err := tx.DomainByName(domain)
		if err != nil {
			return err
		}
		keys, err := tx.DomainDKIMKeys(dom.ID)
		if err != nil {
			return err
		}
		var pending []store.DKIMKey
		for _, k := range keys {
			if k.State == store.DKIMPending {
				pending = append(pending, k)
			}
		}
		if !slices.EqualFunc(pending, seen, func(a store.DKIMKey, b DKIMKey) bool { return a.ID == b.id }) {
			return nil
		}
		for _, k := range keys {
			next := map[string]string{store.DKIMPending: store.DKIMActive, store.DKIMActive: store.DKIMRetiring}[k.State]
			if next == "" {
				continue
			}
			if err := tx.SetDKIMKeyState(k.ID, next, now); err != nil {
				return err
			}
			if next == store.DKIMRetiring {
				k.State, k.Changed = next, now
				retired = append(retired, keyFacts(k))
			}
		}
		done = true
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	if done {
		s.log.Info("DKIM keys switched", "domain", domain, "active", len(seen), "retired", len(retired))
	}
	return done, retired, nil
}
