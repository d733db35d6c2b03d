-- Pillarbox schema, version 25: SEARCH TEXT reads the header fields of a
-- message's MIME parts too (RFC 9051: "header (including MIME header
-- fields) or body"), so their words go into the full-text index beside
-- the header's.
--
-- The index keeps no text (migration 0016): removing a blob takes out the
-- words derived again from the stored message, which must be the words
-- that were put in. Each blob now says how they were derived: text
-- version 0, header and body, for every blob stored so far, whose index
-- entries stay as they are; 1, with the part headers, for what InsertBlob
-- stores from now on (store/sqlite/searchtext.go). The view that gives
-- FTS4 a removed blob's words passes the version along.

ALTER TABLE blobs ADD COLUMN text_version INTEGER NOT NULL DEFAULT 0;

DROP VIEW blob_index_text;
CREATE VIEW blob_index_text(rowid, terms) AS
	SELECT id, pillarbox_blob_terms_at(id, data, text_version) FROM blobs;

-- The blobs still at version 0, which ReindexText takes to version 1 in
-- the background (store/sqlite/reindex.go): the index empties as it does.
CREATE INDEX blobs_text_version_0 ON blobs(id) WHERE text_version = 0;
