package mailbox

import (
	"context"
	"errors"
	"fmt"

	"pillarbox/store"
)

// ErrOverQuota says a message would take an account past its storage
// quota (RFC 9208's STORAGE resource). The error carrying it is a
// *QuotaError, which says whether waiting can help. Check with errors.Is.
var ErrOverQuota = errors.New("mailbox: over quota")

// Quota is an account's storage limit and usage in octets; Limit 0
// means none.
type Quota = store.Quota

// QuotaError is the refusal of a message (or a COPY's messages) that
// does not fit in an account's quota. Every check is made inside the
// write transaction, before the write, so that no concurrent write can
// come between the check and the message.
type QuotaError struct {
	Account int64
	Limit   int64 // the account's quota in octets
	Usage   int64 // what the account held at the check
	Size    int64 // what the refused write would have added
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("mailbox: account %d: %d octets do not fit in its quota (%d of %d used)", e.Account, e.Size, e.Usage, e.Limit)
}

// Is makes errors.Is(err, ErrOverQuota) hold.
func (e *QuotaError) Is(target error) bool { return target == ErrOverQuota }

// Permanent reports that the write alone is larger than the whole
// quota: deleting mail cannot make room for it, so it is refused for
// good (SMTP 552 5.2.2). Otherwise the refusal is temporary (452 4.2.2,
// RFC 3463 X.2.2: the mailbox is full now).
func (e *QuotaError) Permanent() bool { return e.Size > e.Limit }

// checkQuota fails with a *QuotaError if size more octets do not fit in
// the account's quota, read inside tx.
func checkQuota(tx store.Tx, account, size int64) error {
	q, err := tx.Quota(account)
	if err != nil {
		return err
	}
	if !q.Fits(size) {
		return &QuotaError{Account: account, Limit: q.Limit, Usage: q.Usage, Size: size}
	}
	return nil
}

// CheckQuota tells, without a transaction, whether a message of size
// octets has room in the accounts now: the answer an SMTP RCPT gives
// (with the SIZE the client declared, or 0 when it declared none, which
// refuses only accounts that are already full), before the message is
// stored with Delivery.Grace. A recipient that fans out to several
// accounts (an alias) is refused only if none of them has room: one
// member's full mailbox must not keep the message from the others, who
// get it; the full one gets it over its quota, by grace. The error is
// the first refusal, a temporary one if any.
func (s *Service) CheckQuota(ctx context.Context, accounts []int64, size int64) error {
	var first *QuotaError
	for _, acct := range accounts {
		q, err := s.db.Quota(ctx, acct)
		if errors.Is(err, store.ErrNotFound) {
			return nil // gone since Resolve: delivery will say so
		}
		if err != nil {
			return fmt.Errorf("mailbox: quota: %w", err)
		}
		// Full means not one more octet fits.
		if q.Fits(max(size, 1)) {
			return nil
		}
		qe := &QuotaError{Account: acct, Limit: q.Limit, Usage: q.Usage, Size: size}
		if first == nil || first.Permanent() && !qe.Permanent() {
			first = qe
		}
	}
	if first == nil {
		return nil
	}
	return first
}

// AccountQuota returns the quota and usage of a logged-in account, for
// the IMAP QUOTA commands (RFC 9208) to come.
func (s *Service) AccountQuota(ctx context.Context, account int64) (Quota, error) {
	q, err := s.db.Quota(ctx, account)
	s.noteAll(ctx) // the usage sums every folder's messages
	if errors.Is(err, store.ErrNotFound) {
		return Quota{}, fmt.Errorf("%w: account %d", ErrAccountGone, account)
	}
	return q, err
}

// UserQuota returns an account's quota and usage by address.
func (s *Service) UserQuota(ctx context.Context, address string) (Quota, error) {
	a, err := ParseAddress(address)
	if err != nil {
		return Quota{}, err
	}
	acct, err := s.db.AccountByAddress(ctx, a.String())
	if errors.Is(err, store.ErrNotFound) {
		return Quota{}, fmt.Errorf("%w: %s", ErrNoSuchUser, a)
	}
	if err != nil {
		return Quota{}, err
	}
	return Quota{Limit: acct.Quota, Usage: acct.Usage}, nil
}

// SetQuota sets an account's storage limit in octets; 0 removes it.
// Mail already stored stays, even over a lower limit: the limit refuses
// what comes next.
func (s *Service) SetQuota(ctx context.Context, address string, limit int64) error {
	if limit < 0 {
		return fmt.Errorf("mailbox: quota: negative limit %d", limit)
	}
	a, err := ParseAddress(address)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx store.Tx) error { return tx.SetQuota(a.String(), limit) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSuchUser, a)
	}
	if err != nil {
		return fmt.Errorf("mailbox: quota: %w", err)
	}
	return nil
}
