package store

import (
	"time"
)

// MTASTSPolicy is a cached MTA-STS policy of one domain (RFC 8461 3.3).
// The store keeps the policy as text and knows nothing of its syntax.
type MTASTSPolicy struct {
	Domain   string // the policy domain, the key
	ID       string // the id of the TXT record it was fetched under
	Policy   string // the policy body
	Fetched  time.Time
	Expires  time.Time
	LastUsed time.Time
}
