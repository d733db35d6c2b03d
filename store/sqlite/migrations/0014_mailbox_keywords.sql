-- Pillarbox schema, version 14: each mailbox's keywords (RFC 9051 2.3.2),
-- the names its FLAGS and PERMANENTFLAGS list, kept in the spelling first
-- used by a STORE, an APPEND or a COPY into the mailbox. A keyword stays
-- listed after its last message loses it, as in Dovecot; the rows go
-- with their mailbox.
CREATE TABLE mailbox_keywords (
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	keyword    TEXT NOT NULL COLLATE NOCASE, -- keywords are atoms, compared without case
	PRIMARY KEY (mailbox_id, keyword)
) WITHOUT ROWID;

-- The keywords of the messages there already, split from their
-- space-separated lists (one spelling of each, whichever comes first).
INSERT OR IGNORE INTO mailbox_keywords(mailbox_id, keyword)
WITH RECURSIVE split(mailbox_id, rest, word) AS (
	SELECT mailbox_id, keywords || ' ', '' FROM messages WHERE keywords != ''
	UNION ALL
	SELECT mailbox_id, substr(rest, instr(rest, ' ') + 1), substr(rest, 1, instr(rest, ' ') - 1)
	FROM split WHERE rest != ''
)
SELECT mailbox_id, word FROM split WHERE word != '';
