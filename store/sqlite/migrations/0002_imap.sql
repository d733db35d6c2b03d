-- Pillarbox schema, version 2: what the IMAP front needs to answer SELECT,
-- STATUS, EXPUNGE and SEARCH without reading every message of a mailbox.

-- Per-mailbox totals, kept exact by the triggers below, so that SELECT and
-- STATUS (MESSAGES UNSEEN DELETED SIZE DELETED-STORAGE) read one row.
CREATE TABLE mailbox_counts (
	mailbox_id   INTEGER PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
	messages     INTEGER NOT NULL DEFAULT 0,
	unseen       INTEGER NOT NULL DEFAULT 0,  -- without \Seen
	deleted      INTEGER NOT NULL DEFAULT 0,  -- with \Deleted
	size         INTEGER NOT NULL DEFAULT 0,  -- sum of messages.size
	deleted_size INTEGER NOT NULL DEFAULT 0   -- sum of messages.size with \Deleted
);

INSERT INTO mailbox_counts(mailbox_id, messages, unseen, deleted, size, deleted_size)
SELECT b.id,
	(SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id),
	(SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & 1 = 0),
	(SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & 8 != 0),
	(SELECT coalesce(sum(m.size), 0) FROM messages m WHERE m.mailbox_id = b.id),
	(SELECT coalesce(sum(m.size), 0) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & 8 != 0)
FROM mailboxes b;

CREATE TRIGGER mailboxes_add_counts AFTER INSERT ON mailboxes
BEGIN
	INSERT INTO mailbox_counts(mailbox_id) VALUES (NEW.id);
END;

CREATE TRIGGER messages_count_insert AFTER INSERT ON messages
BEGIN
	UPDATE mailbox_counts SET
		messages = messages + 1,
		unseen = unseen + (NEW.flags & 1 = 0),
		deleted = deleted + (NEW.flags & 8 != 0),
		size = size + NEW.size,
		deleted_size = deleted_size + (CASE WHEN NEW.flags & 8 != 0 THEN NEW.size ELSE 0 END)
	WHERE mailbox_id = NEW.mailbox_id;
END;

CREATE TRIGGER messages_count_delete AFTER DELETE ON messages
BEGIN
	UPDATE mailbox_counts SET
		messages = messages - 1,
		unseen = unseen - (OLD.flags & 1 = 0),
		deleted = deleted - (OLD.flags & 8 != 0),
		size = size - OLD.size,
		deleted_size = deleted_size - (CASE WHEN OLD.flags & 8 != 0 THEN OLD.size ELSE 0 END)
	WHERE mailbox_id = OLD.mailbox_id;
END;

CREATE TRIGGER messages_count_update AFTER UPDATE OF flags, size, mailbox_id ON messages
BEGIN
	UPDATE mailbox_counts SET
		messages = messages - 1,
		unseen = unseen - (OLD.flags & 1 = 0),
		deleted = deleted - (OLD.flags & 8 != 0),
		size = size - OLD.size,
		deleted_size = deleted_size - (CASE WHEN OLD.flags & 8 != 0 THEN OLD.size ELSE 0 END)
	WHERE mailbox_id = OLD.mailbox_id;
	UPDATE mailbox_counts SET
		messages = messages + 1,
		unseen = unseen + (NEW.flags & 1 = 0),
		deleted = deleted + (NEW.flags & 8 != 0),
		size = size + NEW.size,
		deleted_size = deleted_size + (CASE WHEN NEW.flags & 8 != 0 THEN NEW.size ELSE 0 END)
	WHERE mailbox_id = NEW.mailbox_id;
END;

-- The first unseen message (IMAP4rev1 SELECT), SEARCH UNSEEN and
-- EXPUNGE read these instead of every row of the mailbox. The WHERE
-- clauses must be written exactly so in queries for SQLite to use them.
CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE flags & 1 = 0;
CREATE INDEX messages_deleted ON messages(mailbox_id, uid) WHERE flags & 8 != 0;

-- FETCH 1:* (FLAGS), what every client does to resynchronise, reads the
-- flags of a whole mailbox in UID order: from this index alone.
CREATE INDEX messages_flags ON messages(mailbox_id, uid, flags, keywords);
