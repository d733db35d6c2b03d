-- Pillarbox schema for PostgreSQL, version 23: nothing to do here. SQLite's
-- 0023_index_text_by_id.sql changes the view FTS4 reads a removed blob's
-- words from; blob_text here stores each blob's tsvector and needs no view.
SELECT 1;
