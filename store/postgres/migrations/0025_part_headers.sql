-- Pillarbox schema for PostgreSQL, version 25: blobs.text_version says
-- how a blob's blob_text row was derived (SQLite's 0025_part_headers.sql):
-- 0, from the header and the body, for every blob stored so far; 1, with
-- the header fields of the message's MIME parts beside the header's,
-- which SEARCH TEXT now reads, for what InsertBlob stores from now on.
ALTER TABLE blobs ADD COLUMN text_version smallint NOT NULL DEFAULT 0;

-- The blobs still at version 0, which ReindexText takes to version 1 in
-- the background (store/postgres/reindex.go): the index empties as it does.
CREATE INDEX blobs_text_version_0 ON blobs(id) WHERE text_version = 0;
