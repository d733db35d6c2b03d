package tlspolicy

import "time"

// Source says where a Result's policy came from.
type Source int

const (
	// SourceNone: no policy applies.
	SourceNone Source = iota
	// SourceCache: the Store's unexpired policy.
	SourceCache
	// SourceFetch: downloaded by this lookup.
	SourceFetch
)

// String is "none", "cache" or "fetch", for logs.
func (s Source) String() string {
	switch s {
	case SourceCache:
		return "cache"
	case SourceFetch:
		return "fetch"
	}
	return "none"
}

// Result is the policy that applies to a domain at the time of a lookup.
// The zero Result is "no policy": Mode none, every host permitted.
type Result struct {
	// Domain is the policy domain in DNS form.
	Domain string
	// Policy is the applying policy; its Mode is ModeNone when the
	// domain has none (or publishes mode none).
	Policy Policy
	// ID is the TXT record id the policy was fetched under; empty
	// without a policy.
	ID string
	// Expires is when the policy stops applying unless refreshed.
	Expires time.Time
	Source  Source
	// Err, when set, is why discovery or the download failed, or why
	// the store could not be used. The Result still holds the right
	// answer (a cached policy, or none); Err is for the log and for TLS
	// reports.
	Err error
}

// Permits reports whether the relay may try mxHost at all: false only
// when the mode is enforce and mxHost matches none of the policy's mx
// patterns (RFC 8461 4.1, 5). In mode testing a host that does not match
// is permitted, and the mismatch (Policy.Matches false) is to be
// reported.
func (r Result) Permits(mxHost string) bool {
	return r.Policy.Mode != ModeEnforce || r.Policy.Matches(mxHost)
}

// RequiresTLS reports whether delivery must use STARTTLS with a
// certificate valid for the MX host (TLSConfig), never falling back to
// plaintext or to an unverified certificate: true in mode enforce.
func (r Result) RequiresTLS() bool { return r.Policy.Mode == ModeEnforce }

// Checks reports whether the relay should check the MX hosts and their
// certificates at all: true in modes testing and enforce. In testing a
// failed check is logged and counted, then delivery goes on as without
// a policy.
func (r Result) Checks() bool { return r.Policy.Mode != ModeNone }
