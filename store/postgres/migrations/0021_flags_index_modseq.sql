-- Pillarbox schema for PostgreSQL, version 21: the index FETCH (FLAGS)
-- reads holds each message's MODSEQ too (SQLite's
-- 0021_flags_index_modseq.sql), so CONDSTORE clients' FETCH reads UID,
-- flags and MODSEQ from it; keywords stay out (see version 2).
DROP INDEX messages_flags;
CREATE INDEX messages_flags ON messages(mailbox_id, uid) INCLUDE (flags, modseq);
