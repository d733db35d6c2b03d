-- Pillarbox schema for PostgreSQL, version 17: the parsed addresses of
-- each blob's From, To, Cc and Bcc as store.AddressText, case-folded,
-- for SEARCH FROM, TO, CC and BCC (SQLite's 0017_blob_addresses.sql).
--
-- SQLite fills the table for existing blobs with a Go function the store
-- registers on its connections; PostgreSQL cannot call Go. No PostgreSQL
-- database of Pillarbox had blobs before this version (the PostgreSQL
-- store starts with the whole sequence), so there is nothing to fill;
-- should one have, a blob without a row is one the store must decode at
-- search time, as for blob_headers (version 18).
CREATE TABLE blob_addresses (
	blob_id   bigint PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
	from_text text NOT NULL,
	to_text   text NOT NULL,
	cc_text   text NOT NULL,
	bcc_text  text NOT NULL
);
