-- Pillarbox schema, version 16: the full-text index keeps no copy of the
-- text (it was as large as the mail itself), and one entry per distinct
-- word of each message rather than one per occurrence.
--
-- blob_text becomes an FTS4 table with external content: the view
-- blob_index_text, which derives a blob's index text from its stored
-- message with pillarbox_index_text (registered by the store on its
-- connections; see store/searchtext.go). FTS4 reads it only to take a
-- removed blob's words out of the index, so the trigger that does so runs
-- before the blob goes. SEARCH checks the index's candidates against the
-- text it derives from the stored message, so one column serves the
-- header and the body alike, and matchinfo=fts3 drops the per-document
-- sizes nothing reads.
--
-- The existing index is rebuilt from the text its old table kept, reduced
-- to distinct words (pillarbox_index_terms of the header, a line break and
-- the body, as the store computes it); so is the text still pending.

DROP TRIGGER blobs_release_text;
ALTER TABLE blob_text RENAME TO blob_text_old;

CREATE VIEW blob_index_text(rowid, terms) AS
	SELECT id, pillarbox_index_text(data) FROM blobs;

CREATE VIRTUAL TABLE blob_text USING fts4(content="blob_index_text", terms, matchinfo=fts3, tokenize=unicode61);
INSERT INTO blob_text(blob_text) VALUES ('automerge=8');

INSERT INTO blob_text(docid, terms)
	SELECT docid, pillarbox_index_terms(header || char(10) || body) FROM blob_text_old
	ORDER BY docid;

-- Every piece the index holds, ASCII lower-cased, with its Fold, for the
-- search strings whose first run may end a longer piece (see
-- store/searchtext.go): the indexer adds the pieces of what it indexes.
CREATE TABLE index_pieces (
	piece  TEXT PRIMARY KEY,
	folded TEXT NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO index_pieces(piece, folded)
	SELECT value, pillarbox_fold(value) FROM (SELECT DISTINCT j.value AS value
		FROM blob_text_old o, json_each(pillarbox_index_pieces(o.header || char(10) || o.body)) j);
DROP TABLE blob_text_old;

CREATE TABLE blob_text_pending_new (
	blob_id INTEGER PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
	terms   TEXT NOT NULL
);
INSERT INTO blob_text_pending_new(blob_id, terms)
	SELECT blob_id, pillarbox_index_terms(header || char(10) || body) FROM blob_text_pending;
DROP TABLE blob_text_pending;
ALTER TABLE blob_text_pending_new RENAME TO blob_text_pending;

-- Text still pending is not in the index: there is nothing to remove.
CREATE TRIGGER blobs_release_text BEFORE DELETE ON blobs
WHEN NOT EXISTS (SELECT 1 FROM blob_text_pending WHERE blob_id = OLD.id)
BEGIN
	DELETE FROM blob_text WHERE docid = OLD.id;
END;
