// Package sortthread holds the pure algorithms behind the IMAP SORT and THREAD
// commands (RFC 5256), the DISPLAYFROM and DISPLAYTO sort keys (RFC 5957) and
// the result shapes of ESORT and PARTIAL (RFC 5267, RFC 9394).
//
// It knows nothing of sessions, stores or the wire parser: the caller loads
// one Message per candidate (the messages a SEARCH matched), calls Sort or
// Thread, and writes the answer with AppendThreadLists, AppendOrderedSet or
// AppendESortData. Everything here is deterministic and free of shared state,
// so one call may run per session concurrently.
//
// Strings are compared the way RFC 5256 section 3 asks for the default
// collation: i;unicode-casemap (RFC 5051), approximated by mapping every
// character to its Unicode title case and comparing the resulting UTF-8
// octets. The canonical decomposition step of RFC 5051 is not applied, so a
// precomposed "é" and "e" followed by U+0301 compare as different strings.
package sortthread
