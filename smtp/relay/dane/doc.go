// Package dane authenticates the TLS certificates of SMTP servers with
// DNSSEC-signed TLSA records (DANE for SMTP, RFC 7672, on RFC 6698 and
// RFC 7671).
//
// It asks one validating resolver (the [dns] resolver key) with the DO bit
// set and believes its AD bit: the package does not validate DNSSEC itself,
// so the path to that resolver must be trusted (a resolver on the same
// host, RFC 7672 2.1).
//
// The relay uses it in three steps for each destination domain:
//
//  1. LookupMX gives the MX hosts and whether the MX RRset is secure.
//  2. Lookup(ctx, host, mxSecure) gives each host's Policy: Off (DANE does
//     not apply: opportunistic TLS as without DANE), Encrypt (TLS is
//     required but the certificate is not checked) or Verify (TLS is
//     required and the certificate must match a TLSA record). An error
//     means that host must not be used now: try the next MX host, and
//     defer when none is left (RFC 7672 2.1.1).
//  3. For Encrypt and Verify, Policy.TLSConfig gives the STARTTLS
//     configuration; a missing STARTTLS, a failed handshake or a mismatch
//     is a temporary failure, never a reason to go on in plaintext
//     (RFC 7672 2.2).
//
// Without MX records (RFC 5321 5.1), step 2 runs on the domain itself with
// the security of the MX denial.
package dane
