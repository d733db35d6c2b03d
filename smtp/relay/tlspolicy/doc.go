// Package tlspolicy implements MTA-STS (RFC 8461) for the outbound relay:
// it discovers, downloads, caches and refreshes a recipient domain's
// policy, and tells the relay which MX hosts it may use and how.
//
// The parts: Parse reads a policy body; Fetcher looks up the
// _mta-sts TXT record and downloads https://mta-sts.<domain>/.well-known/mta-sts.txt;
// Policies combines them with a Store (the database, in the relay) into
// Lookup, which answers for one delivery, and Refresh, which the relay
// runs periodically; TLSConfig builds the STARTTLS configuration that
// checks an MX host's certificate.
//
// # What the relay must do
//
// Before each delivery attempt to a domain (once per attempt, not per
// message), call Lookup with the recipient domain and log Result.Err if
// set; an address literal has no policy. Through a smarthost, RFC 8461
// 3.4 makes the smarthost's domain the policy domain: look that up
// instead, with the smarthost as the only "MX host". Then, for each MX
// host in preference order:
//
//   - ModeEnforce (Result.RequiresTLS): skip hosts for which
//     Result.Permits is false. Connect to the others only with STARTTLS
//     and TLSConfig(base, host, roots): the certificate must chain to
//     a trusted root and be valid for the MX host name (RFC 8461 4.1,
//     4.2). No STARTTLS offered, a failed handshake or a bad certificate
//     mean: go on to the next host, never to plaintext or an unchecked
//     certificate. If no host is left, defer the mail (a temporary
//     failure): RFC 8461 5.1 forbids failing it permanently before a
//     new lookup has checked for a new policy, which the next attempt's
//     Lookup does.
//   - ModeTesting (Result.Checks, not RequiresTLS): try the same checks,
//     and when one fails (Policy.Matches false, no STARTTLS, bad
//     certificate) log and count it as an MTA-STS failure, then deliver
//     as without a policy (opportunistic TLS, plaintext fallback
//     allowed).
//   - ModeNone: deliver as without a policy.
//
// Refresh is meant to run about hourly from the relay's scheduler with
// the same context; it never sleeps.
package tlspolicy
