-- Pillarbox schema, version 16: the full-text index keeps no copy of the
-- text (it was as large as the mail itself) and one entry per distinct
-- word of each message rather than one per occurrence.
--
-- blob_text becomes an FTS4 table with external content: the view
-- blob_index_text, which derives a blob's index text from its stored
-- message with pillarbox_index_text (registered by the store on its write
-- connection; see store/searchtext.go). FTS4 reads it only to take a
-- removed blob's words out of the index, so the trigger that does so runs
-- before the blob goes. SEARCH checks the index's candidates against the
-- text it derives from the stored message.
--
-- The existing index is rebuilt from the text its old table kept, reduced
-- to distinct words (pillarbox_index_terms), as the indexer now stores it;
-- text still pending is reduced the same way.

DROP TRIGGER blobs_release_text;
ALTER TABLE blob_text RENAME TO blob_text_old;

CREATE VIEW blob_index_text(rowid, header, body) AS
	SELECT id, pillarbox_index_text(data, 0), pillarbox_index_text(data, 1) FROM blobs;

CREATE VIRTUAL TABLE blob_text USING fts4(content="blob_index_text", header, body, tokenize=unicode61);
INSERT INTO blob_text(blob_text) VALUES ('automerge=8');

INSERT INTO blob_text(docid, header, body)
	SELECT docid, pillarbox_index_terms(header), pillarbox_index_terms(body) FROM blob_text_old
	ORDER BY docid;
DROP TABLE blob_text_old;

UPDATE blob_text_pending SET header = pillarbox_index_terms(header), body = pillarbox_index_terms(body);

-- Text still pending is not in the index: there is nothing to remove.
CREATE TRIGGER blobs_release_text BEFORE DELETE ON blobs
WHEN NOT EXISTS (SELECT 1 FROM blob_text_pending WHERE blob_id = OLD.id)
BEGIN
	DELETE FROM blob_text WHERE docid = OLD.id;
END;
