-- Pillarbox schema, version 23: the view that gives the full-text index a
-- removed blob's words passes the blob's id to the function that derives
-- them, so that the indexer can derive them beforehand, off the writer.
--
-- FTS4 reads a removed blob's words from this view (migration 0016), in
-- the transaction that removes it: deriving them there parses the stored
-- message on the writer's goroutine, which every other write waits for.
-- The indexer now reads the blobs it is about to remove in a snapshot,
-- derives their words on its own goroutine and hands them over by id
-- (pillarbox_blob_terms, index.go); the function derives them itself, as
-- before, for a blob it was not given.

DROP VIEW blob_index_text;
CREATE VIEW blob_index_text(rowid, terms) AS
	SELECT id, pillarbox_blob_terms(id, data) FROM blobs;
