-- Pillarbox schema for PostgreSQL, version 19: when each message was
-- saved in its mailbox (RFC 8514 SAVEDATE), in Unix seconds; NULL for
-- messages stored before, whose internal date SAVEDATE reads then
-- (SQLite's 0019_savedate.sql).
ALTER TABLE messages ADD COLUMN saved bigint;
