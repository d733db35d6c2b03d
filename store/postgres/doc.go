// Package postgres is Pillarbox's store in PostgreSQL (issue 12), so that
// several stateless `pillarbox serve` nodes can share one database.
//
// Its schema is the SQLite store's, rendered for PostgreSQL: the
// migrations in migrations/ carry the same numbers and names as the
// SQLite store's, each doing what that one does (or saying in a comment
// why it has nothing to do here), and Open applies the pending ones.
// schema_version records the last one applied.
//
// The differences that matter to code written against it:
//
//   - ids are identity columns (never handed out twice); times, sizes
//     and counters are bigint as in SQLite; the 0/1 columns are boolean
//     (mailboxes.subscribed until 15, queue.warned, queue.require_tls);
//     message octets are bytea;
//   - blob_text(blob_id, terms tsvector) with a GIN index is the search
//     index, in place of the FTS4 tables (blob_text, blob_text_pending,
//     index_pieces, blob_index_text): a blob without a row is not indexed;
//   - mailbox_keywords is unique on (mailbox_id, lower(keyword)), for
//     SQLite's COLLATE NOCASE;
//   - the triggers keeping mailbox_counts, accounts.usage and releasing
//     blobs are PL/pgSQL, and assume READ COMMITTED (see 0001).
package postgres
