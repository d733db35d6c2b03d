// Package sqlite is the embedded store.Store: it keeps Pillarbox's data in
// one SQLite file: accounts, aliases, mailboxes, messages, message blobs with
// their parsed metadata and search text, and the outbound queue.
//
// The schema lives in migrations/*.sql, embedded and applied in order at
// Open; PRAGMA user_version records the last one applied. In short:
//
//   - accounts(address, bcrypt password_hash); aliases(address → account)
//
//   - mailboxes(account, name, uidvalidity unique across the database,
//     uidnext, highestmodseq, special_use, recent_uid); subscriptions(account, name)
//     (0015): the subscribed names, apart from the mailboxes;
//     mailbox_keywords(mailbox, keyword) (0014): the keywords FLAGS
//     lists, once each whatever their case
//
//   - blobs(size, message_id, sent_date, envelope JSON, structure JSON,
//     data): one row per received message, shared by every recipient;
//     blobs_released (0022): blobs whose last message or queue item went,
//     which the indexer removes in batches (index.go)
//
//   - blob_text: FTS4 index of the distinct words of each blob's decoded
//     header and body text, with no copy of the text (0016: external
//     content, the view blob_index_text, which derives the words from the
//     stored message when a blob is removed); blob_text_pending: the words
//     of blobs delivered but not yet indexed (see FlushIndex); index_pieces:
//     every piece the index holds, for search strings that may start or
//     lie inside one. SEARCH checks the index's candidates against the text
//     it decodes from the stored message (searchtext.go)
//
//   - blob_addresses (0017): the parsed From, To, Cc and Bcc addresses of
//     each blob as folded text, which SEARCH FROM, TO, CC and BCC match
//     (addresses.go)
//
//   - messages(mailbox, uid, modseq, blob, internal_date, size, flags,
//     keywords)
//
//   - queue(blob, sender, recipient, state, attempts, next_attempt,
//     last_reply) and queue_attempts: the outbound queue, one row per
//     recipient; with (0006) the DSN parameters RET, ENVID, NOTIFY and
//     ORCPT and the REQUIRETLS flag its MAIL and RCPT commands carried;
//     created and next_attempt in milliseconds since the epoch (0007),
//     with an index by (state, domain, next_attempt) for the scheduler's
//     walk over destination domains
//
//   - mta_sts_policies (0008): the relay's cache of MTA-STS policies, one
//     row per policy domain with the policy text, when it was fetched,
//     when it expires and when a delivery last used it; queue_attempts
//     gained tls, how each attempt used TLS
//
//   - mailbox_counts (0002): per-mailbox MESSAGES, UNSEEN, DELETED, SIZE
//     and deleted size, kept exact by triggers on messages, so SELECT and
//     STATUS read one row; partial indexes for unseen and deleted messages
//     and a covering index for FETCH FLAGS
//
//   - sent_copies (0009): the Sent copies of the last 15 minutes, filed
//     by submission ('auto') or uploaded by a mail app ('upload'), by
//     account and Message-ID, each going with its message, so that one
//     copy of a sent message remains
//
//   - vanished: the UIDs removed from each mailbox with the MODSEQ
//     of their removal, for QRESYNC, written by RemoveMessages and
//     indexed by (mailbox, modseq); mailboxes.vanished_floor, the highest
//     MODSEQ of a removal no longer remembered (PruneVanished keeps the
//     newest rows of each mailbox), below which VanishedSince answers
//     with every UID that is gone
//
//   - accounts.quota and accounts.usage (0013): each account's storage
//     limit in octets (0: none) and the sum of its messages' sizes, kept
//     exact by triggers on messages and mailboxes (quota.go)
//
// Triggers delete a blob when its last message or queue row goes, and
// take its words out of the full-text index before it goes.
//
// All writes go through one goroutine that owns the only write connection
// and commits concurrent requests together (group commit, see DB.Write).
// Reads use two read-only pools: one for snapshots, which IMAP holds for a
// whole command, and one for the DB's short lookups, which SMTP, logins
// and delivery need, so that no number of slow IMAP commands can starve
// delivery.
package sqlite
