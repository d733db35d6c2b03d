package mailbox

import (
	"context"
	"errors"
	"fmt"

	"pillarbox/store"
)

// Recipient is a local envelope recipient resolved to the accounts that
// receive its mail.
type Recipient struct {
	Address  Address // as the sender wrote it, normalised
	Accounts []int64
	// Names are the accounts' addresses as Resolve read them, for the
	// delivery history; empty when the Recipient was made otherwise.
	Names []string
}

// Resolve finds the local accounts for an address in a local domain:
// the account itself, else an alias, trying the address as given and
// then without its "+tag" subaddress. ErrNotLocal if the domain is not
// local, ErrNoSuchUser if nothing matches.
func (s *Service) Resolve(ctx context.Context, a Address) (Recipient, error) {
	r := Recipient{Address: a}
	if !s.IsLocalDomain(a.Domain) {
		return r, fmt.Errorf("%w: %s", ErrNotLocal, a.Domain)
	}
	for _, cand := range []Address{a, a.Base()} {
		acct, err := s.db.AccountByAddress(ctx, cand.String())
		if err == nil {
			r.Accounts, r.Names = []int64{acct.ID}, []string{acct.Address}
			return r, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return r, err
		}
		targets, err := s.db.AliasTargets(ctx, cand.String())
		if err == nil {
			for _, t := range targets {
				r.Accounts, r.Names = append(r.Accounts, t.ID), append(r.Names, t.Address)
			}
			return r, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return r, err
		}
		if cand == a.Base() {
			break
		}
	}
	return r, fmt.Errorf("%w: %s", ErrNoSuchUser, a)
}

// Count returns how many messages the named mailbox of an account holds.
func (s *Service) Count(ctx context.Context, address, mailboxName string) (int, error) {
	a, err := ParseAddress(address)
	if err != nil {
		return 0, err
	}
	acct, err := s.db.AccountByAddress(ctx, a.String())
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: %s", ErrNoSuchUser, a)
	}
	if err != nil {
		return 0, err
	}
	mb, err := s.db.MailboxByName(ctx, acct.ID, mailboxName)
	if err != nil {
		return 0, err
	}
	return s.db.CountMessages(ctx, mb.ID)
}
