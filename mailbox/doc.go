// Package mailbox is Pillarbox's domain: accounts and their addresses
// (aliases, subaddressing, local domains), mailboxes with special-use
// folders, messages and their parse-once metadata, delivery of one message
// to many recipients as one transaction, submission with the sender's
// Sent copy (sent.go), and the change feed that tells
// IMAP sessions about every committed change in commit order.
//
// It sits between the protocols (smtp, imap) and store; it never speaks a
// protocol and never imports one.
package mailbox
