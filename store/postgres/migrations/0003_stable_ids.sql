-- Pillarbox schema for PostgreSQL, version 3 (SQLite's 0003_stable_ids.sql).
--
-- In SQLite this rebuilt every table with AUTOINCREMENT so that ids are
-- never handed out twice. Here the identity columns of version 1 never
-- did: a sequence does not go back when rows are deleted (nor when a
-- transaction rolls back). What remains is the credential generation:
-- accounts.credential goes up with every password change; a session
-- remembers the generation it logged in with, and ends when it changes.
ALTER TABLE accounts ADD COLUMN credential bigint NOT NULL DEFAULT 1;
