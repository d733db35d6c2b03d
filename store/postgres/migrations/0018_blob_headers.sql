-- Pillarbox schema for PostgreSQL, version 18: the decoded header text of
-- each blob ("Name: value" lines), for the HEADER and SUBJECT search keys
-- (SQLite's 0018_blob_headers.sql). Blobs stored before have none, and
-- their header is decoded at search time until a backfill writes it.
CREATE TABLE blob_headers (
	blob_id bigint PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
	text    text NOT NULL
);
