package mailbox

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"pillarbox/store"
)

// DefaultFolders are made with every account: name and special use
// (RFC 6154). INBOX has none.
var DefaultFolders = []struct{ Name, SpecialUse string }{
	{"INBOX", ""},
	{"Drafts", `\Drafts`},
	{"Sent", `\Sent`},
	{"Trash", `\Trash`},
	{"Junk", `\Junk`},
	{"Archive", `\Archive`},
}

// MaxPasswordBytes is bcrypt's limit; longer passwords are refused rather
// than silently truncated.
const MaxPasswordBytes = 72

// localAddress parses address and checks that its domain is local.
func (s *Service) localAddress(address string) (Address, error) {
	a, err := ParseAddress(address)
	if err != nil {
		return a, err
	}
	if !s.IsLocalDomain(a.Domain) {
		return a, fmt.Errorf("%w: %s", ErrNotLocal, a.Domain)
	}
	return a, nil
}

func (s *Service) hashPassword(password string) (string, error) {
	switch {
	case password == "":
		return "", fmt.Errorf("%w: empty", ErrBadPassword)
	case len(password) > MaxPasswordBytes:
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadPassword, MaxPasswordBytes)
	case !utf8.ValidString(password) || strings.ContainsAny(password, "\x00\r\n"):
		return "", fmt.Errorf("%w: must be UTF-8 without NUL or line breaks", ErrBadPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return "", fmt.Errorf("mailbox: hash password: %w", err)
	}
	return string(h), nil
}

// AddUser creates an account with its default folders.
func (s *Service) AddUser(ctx context.Context, address, password string) error {
	a, err := s.localAddress(address)
	if err != nil {
		return err
	}
	if a.Base() != a {
		return fmt.Errorf("mailbox: %s: an account address cannot contain a '+' subaddress", a)
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.write(ctx, func(tx store.Tx) error {
		_, err := createAccount(tx, a.String(), hash, now, s.defaultQuota)
		return err
	})
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %s is already a user or an alias", ErrExists, a)
	}
	return err
}

// createAccount makes an account with its default folders and the
// given quota (0: none) inside tx; store.ErrExists if the address is an
// account or an alias already.
func createAccount(tx store.Tx, address, hash string, now time.Time, quota int64) (int64, error) {
	id, err := tx.CreateAccount(address, hash, now)
	if err != nil {
		return 0, err
	}
	if quota > 0 {
		if err := tx.SetQuota(address, quota); err != nil {
			return 0, err
		}
	}
	for _, f := range DefaultFolders {
		if _, err := tx.CreateMailbox(id, f.Name, f.SpecialUse, true, now); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// SetPassword changes an account's password.
func (s *Service) SetPassword(ctx context.Context, address, password string) error {
	a, err := ParseAddress(address)
	if err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx store.Tx) error { return tx.SetPassword(a.String(), hash) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSuchUser, a)
	}
	if err != nil {
		return err
	}
	return s.CheckSessions(ctx)
}

// DeleteUser removes an account with all its mail.
func (s *Service) DeleteUser(ctx context.Context, address string) error {
	a, err := ParseAddress(address)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx store.Tx) error { return tx.DeleteAccount(a.String()) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSuchUser, a)
	}
	if err != nil {
		return err
	}
	return s.CheckSessions(ctx)
}

// Users lists the account addresses in order.
func (s *Service) Users(ctx context.Context) ([]string, error) {
	accts, err := s.db.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(accts))
	for i, a := range accts {
		out[i] = a.Address
	}
	return out, nil
}

// Account is an authenticated user.
type Account struct {
	ID      int64
	Address string
	// Credential is the generation of the password the login checked;
	// it changes with the password (see TrackSession).
	Credential int64
}

// Authenticate checks a login. Unknown users and wrong passwords both
// give ErrAuthFailed. Throttling repeated failures is the caller's job,
// since only it knows where the attempt came from.
func (s *Service) Authenticate(ctx context.Context, username, password string) (Account, error) {
	a, err := ParseAddress(username)
	if err != nil {
		bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(password))
		return Account{}, ErrAuthFailed
	}
	acct, err := s.db.AccountByAddress(ctx, a.String())
	if errors.Is(err, store.ErrNotFound) {
		bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(password))
		return Account{}, ErrAuthFailed
	}
	if err != nil {
		return Account{}, err
	}
	now := s.now()
	if !s.auth.verified(acct.ID, acct.PasswordHash, password, now) {
		if bcrypt.CompareHashAndPassword([]byte(acct.PasswordHash), []byte(password)) != nil {
			return Account{}, ErrAuthFailed
		}
		s.auth.remember(acct.ID, acct.PasswordHash, password, now)
	}
	return Account{ID: acct.ID, Address: acct.Address, Credential: acct.Credential}, nil
}

// SetAlias makes alias deliver to the given local accounts.
func (s *Service) SetAlias(ctx context.Context, alias string, targets []string) error {
	a, err := s.localAddress(alias)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		return fmt.Errorf("mailbox: alias %s needs at least one target", a)
	}
	norm := make([]string, 0, len(targets))
	for _, t := range targets {
		ta, err := ParseAddress(t)
		if err != nil {
			return err
		}
		if ta == a {
			return fmt.Errorf("mailbox: alias %s cannot point to itself", a)
		}
		norm = append(norm, ta.String())
	}
	err = s.write(ctx, func(tx store.Tx) error { return tx.SetAlias(a.String(), norm) })
	switch {
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: %s is a user", ErrExists, a)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %v", ErrNoSuchUser, errors.Unwrap(err))
	}
	return err
}

// DeleteAlias removes an alias.
func (s *Service) DeleteAlias(ctx context.Context, alias string) error {
	a, err := ParseAddress(alias)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx store.Tx) error { return tx.DeleteAlias(a.String()) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("mailbox: no alias %s", a)
	}
	return err
}

// Alias is an address delivering to accounts.
type Alias = store.Alias

// Aliases lists every alias.
func (s *Service) Aliases(ctx context.Context) ([]Alias, error) { return s.db.Aliases(ctx) }

// GeneratePassword returns a random password of 20 characters from an
// alphabet without look-alike characters (about 100 bits).
func GeneratePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	return randomString(alphabet, 20)
}

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	buf := make([]byte, 1)
	for i := 0; i < n; {
		rand.Read(buf)
		// Rejection sampling keeps every character equally likely.
		if int(buf[0]) >= 256-256%len(alphabet) {
			continue
		}
		b[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(b)
}
