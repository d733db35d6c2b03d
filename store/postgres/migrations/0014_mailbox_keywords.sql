-- Pillarbox schema for PostgreSQL, version 14: each mailbox's keywords,
-- the names its FLAGS and PERMANENTFLAGS list, in the spelling first used
-- (SQLite's 0014_mailbox_keywords.sql). A keyword stays listed after its
-- last message loses it; the rows go with their mailbox.
--
-- SQLite keys the table on keyword COLLATE NOCASE. Keywords are atoms
-- (ASCII), so lower() is the same folding here, and a unique index on it
-- is the key (INSERT ... ON CONFLICT (mailbox_id, lower(keyword)) DO
-- NOTHING keeps the first spelling) without citext or a nondeterministic
-- collation, which need an extension or ICU.
CREATE TABLE mailbox_keywords (
	mailbox_id bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	keyword    text NOT NULL
);
CREATE UNIQUE INDEX mailbox_keywords_key ON mailbox_keywords(mailbox_id, lower(keyword));

-- The keywords of the messages there already: the spelling of the oldest
-- message, first in its list, wins.
INSERT INTO mailbox_keywords(mailbox_id, keyword)
SELECT DISTINCT ON (m.mailbox_id, lower(w.word)) m.mailbox_id, w.word
FROM messages m, regexp_split_to_table(m.keywords, ' ') WITH ORDINALITY AS w(word, n)
WHERE m.keywords <> '' AND w.word <> ''
ORDER BY m.mailbox_id, lower(w.word), m.id, w.n;
