-- Pillarbox schema for PostgreSQL, version 12: expunged UIDs remembered
-- with the MODSEQ of their expunge, for QRESYNC (SQLite's
-- 0012_vanished.sql, RFC 7162). One row per message removed from a
-- mailbox, written by the transaction that removes it; the rows go with
-- their mailbox.
CREATE TABLE vanished (
	mailbox_id bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid        bigint NOT NULL,
	modseq     bigint NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
-- "UIDs expunged in mailbox M with modseq > N" from the index alone.
CREATE INDEX vanished_modseq ON vanished(mailbox_id, modseq) INCLUDE (uid);

-- The highest MODSEQ of an expunge the mailbox no longer remembers.
-- Expunges before this version were never recorded: existing mailboxes
-- start at their HIGHESTMODSEQ, new ones at 0.
ALTER TABLE mailboxes ADD COLUMN vanished_floor bigint NOT NULL DEFAULT 0;
UPDATE mailboxes SET vanished_floor = highestmodseq;
