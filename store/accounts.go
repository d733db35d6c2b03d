package store

import (
	"time"
)

// Account is a local user.
type Account struct {
	ID           int64
	Address      string
	PasswordHash string
	Created      time.Time
	// Credential goes up with every password change, so that a session
	// can tell that the password it logged in with is no longer valid.
	Credential int64
	// Quota is the account's storage limit in octets, 0 for none; Usage
	// the sum of its messages' sizes (see quota.go).
	Quota, Usage int64
}

// Alias is an address that delivers to one or more accounts.
type Alias struct {
	Address string
	Targets []string // account addresses, sorted
}
