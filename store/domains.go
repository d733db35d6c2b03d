package store

import (
	"time"
)

// Domain is a local domain kept in the database.
type Domain struct {
	ID      int64
	Name    string // ASCII (punycode), lower-case
	Created time.Time
}

// DKIMKey is one DKIM signing key of a domain.
type DKIMKey struct {
	ID         int64
	DomainID   int64
	Domain     string // the domain's name
	Selector   string
	Algorithm  string // "rsa-sha256" or "ed25519-sha256"
	PrivateKey []byte // PKCS#8 DER
	Created    time.Time
	State      string    // DKIMPending, DKIMActive or DKIMRetiring
	Changed    time.Time // when State last changed
}

// DKIM key algorithms and states, as stored.
const (
	DKIMRSASHA256     = "rsa-sha256"
	DKIMEd25519SHA256 = "ed25519-sha256"
	DKIMPending       = "pending"  // made by a rotation, not yet signing
	DKIMActive        = "active"   // signs
	DKIMRetiring      = "retiring" // replaced; its record stays published a while
)
