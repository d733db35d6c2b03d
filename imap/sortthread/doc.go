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
// collation, i;unicode-casemap (RFC 5051): every character mapped to its
// Unicode title case, the result put in canonical decomposition (NFD), and
// the UTF-8 octets compared. Title case comes from Go's simple case tables,
// so "ß" stays itself rather than becoming "Ss".
package sortthread
