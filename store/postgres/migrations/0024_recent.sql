-- Pillarbox schema for PostgreSQL, version 24: recent_uid, the lowest UID
-- no session has claimed as \Recent yet (SQLite's 0024_recent.sql).
ALTER TABLE mailboxes ADD COLUMN recent_uid bigint NOT NULL DEFAULT 1;
UPDATE mailboxes SET recent_uid = uidnext;
