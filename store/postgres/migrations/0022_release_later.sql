-- Pillarbox schema for PostgreSQL, version 22: nothing to do here. SQLite's
-- 0022_release_later.sql puts off removing released blobs, because there
-- each removal wrote FTS4 deletions on the writer's path; here a blob's
-- words are a row of blob_text that goes with it, and the triggers of
-- version 1 remove the blob at once.
SELECT 1;
