-- Pillarbox schema for PostgreSQL, version 11: manual retries kept apart
-- from attempts (SQLite's 0011_manual_retries.sql); the relay's backoff
-- step is attempts - manual_retries.
ALTER TABLE queue ADD COLUMN manual_retries integer NOT NULL DEFAULT 0;
