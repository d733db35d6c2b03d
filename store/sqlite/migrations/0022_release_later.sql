-- Pillarbox schema, version 22: a blob that nothing refers to any more is
-- removed later, many at a time, instead of inside the write that let it go.
--
-- Removing a blob removes its words from the full-text index. FTS4 derives
-- them again from the stored message (blob_index_text) and writes a new
-- segment of deletions in the same commit, so every EXPUNGE cost a parse,
-- a segment and, sixteen segments later, a merge, all on the writer's
-- path. Now the triggers only note the blob in blobs_released; the
-- indexer removes the noted blobs that are still unreferenced, with their
-- words, in batches (index.go). Until then the blob is invisible: nothing
-- refers to it, and search results are messages.

CREATE TABLE blobs_released (
	blob_id INTEGER PRIMARY KEY
);

DROP TRIGGER messages_release_blob;
DROP TRIGGER queue_release_blob;

CREATE TRIGGER messages_release_blob AFTER DELETE ON messages
WHEN NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = OLD.blob_id)
 AND NOT EXISTS (SELECT 1 FROM queue WHERE blob_id = OLD.blob_id)
BEGIN
	INSERT OR IGNORE INTO blobs_released(blob_id) VALUES (OLD.blob_id);
END;

CREATE TRIGGER queue_release_blob AFTER DELETE ON queue
WHEN NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = OLD.blob_id)
 AND NOT EXISTS (SELECT 1 FROM queue WHERE blob_id = OLD.blob_id)
BEGIN
	INSERT OR IGNORE INTO blobs_released(blob_id) VALUES (OLD.blob_id);
END;
