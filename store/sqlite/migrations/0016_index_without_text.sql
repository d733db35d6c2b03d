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
-- text it derives from the stored message. One column holds the header's
-- distinct pieces, each marked as such, and the body's
-- (pillarbox_index_join); matchinfo=fts3 drops the per-document sizes
-- nothing reads.
--
-- The existing index is rebuilt from the text its old table kept, reduced
-- to distinct pieces (pillarbox_index_terms) as the store now keeps the
-- text still pending too.

DROP TRIGGER blobs_release_text;
ALTER TABLE blob_text RENAME TO blob_text_old;

CREATE VIEW blob_index_text(rowid, terms) AS
	SELECT id, pillarbox_index_text(data) FROM blobs;

CREATE VIRTUAL TABLE blob_text USING fts4(content="blob_index_text", terms, matchinfo=fts3, tokenize=unicode61);
INSERT INTO blob_text(blob_text) VALUES ('automerge=8');

INSERT INTO blob_text(docid, terms)
	SELECT docid, pillarbox_index_join(pillarbox_index_terms(header), pillarbox_index_terms(body)) FROM blob_text_old
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

-- The pending text becomes its index terms, as the store now writes it.
UPDATE blob_text_pending SET header = pillarbox_index_terms(header), body = pillarbox_index_terms(body);

-- Text still pending is not in the index: there is nothing to remove.
CREATE TRIGGER blobs_release_text BEFORE DELETE ON blobs
WHEN NOT EXISTS (SELECT 1 FROM blob_text_pending WHERE blob_id = OLD.id)
BEGIN
	DELETE FROM blob_text WHERE docid = OLD.id;
END;
