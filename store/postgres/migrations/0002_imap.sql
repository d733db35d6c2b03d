-- Pillarbox schema for PostgreSQL, version 2: what the IMAP front needs
-- to answer SELECT, STATUS, EXPUNGE and SEARCH without reading every
-- message of a mailbox (SQLite's 0002_imap.sql).

-- Per-mailbox totals, kept exact by the triggers below, so that SELECT
-- and STATUS read one row. Each trigger adds or takes away a delta under
-- the row's lock, so concurrent writers of several nodes add up.
CREATE TABLE mailbox_counts (
	mailbox_id   bigint PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
	messages     bigint NOT NULL DEFAULT 0,
	unseen       bigint NOT NULL DEFAULT 0,  -- without \Seen
	deleted      bigint NOT NULL DEFAULT 0,  -- with \Deleted
	size         bigint NOT NULL DEFAULT 0,  -- sum of messages.size
	deleted_size bigint NOT NULL DEFAULT 0   -- sum of messages.size with \Deleted
);

INSERT INTO mailbox_counts(mailbox_id, messages, unseen, deleted, size, deleted_size)
SELECT b.id,
	count(m.id),
	count(m.id) FILTER (WHERE m.flags & 1 = 0),
	count(m.id) FILTER (WHERE m.flags & 8 <> 0),
	coalesce(sum(m.size), 0),
	coalesce(sum(m.size) FILTER (WHERE m.flags & 8 <> 0), 0)
FROM mailboxes b LEFT JOIN messages m ON m.mailbox_id = b.id
GROUP BY b.id;

CREATE FUNCTION mailboxes_add_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO mailbox_counts(mailbox_id) VALUES (NEW.id);
	RETURN NULL;
END $$;
CREATE TRIGGER mailboxes_add_counts AFTER INSERT ON mailboxes
	FOR EACH ROW EXECUTE FUNCTION mailboxes_add_counts();

-- count_message adds one message (sign 1) or takes it away (sign -1)
-- from its mailbox's totals.
CREATE FUNCTION count_message(mailbox bigint, flags integer, size bigint, sign integer) RETURNS void
LANGUAGE sql AS $$
	UPDATE mailbox_counts SET
		messages = messages + sign,
		unseen = unseen + sign * (flags & 1 = 0)::int,
		deleted = deleted + sign * (flags & 8 <> 0)::int,
		size = mailbox_counts.size + sign * count_message.size,
		deleted_size = deleted_size + sign * (CASE WHEN flags & 8 <> 0 THEN count_message.size ELSE 0 END)
	WHERE mailbox_id = mailbox;
$$;

CREATE FUNCTION messages_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM count_message(NEW.mailbox_id, NEW.flags, NEW.size, 1);
	RETURN NULL;
END $$;
CREATE TRIGGER messages_count_insert AFTER INSERT ON messages
	FOR EACH ROW EXECUTE FUNCTION messages_count_insert();

CREATE FUNCTION messages_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM count_message(OLD.mailbox_id, OLD.flags, OLD.size, -1);
	RETURN NULL;
END $$;
CREATE TRIGGER messages_count_delete AFTER DELETE ON messages
	FOR EACH ROW EXECUTE FUNCTION messages_count_delete();

CREATE FUNCTION messages_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM count_message(OLD.mailbox_id, OLD.flags, OLD.size, -1);
	PERFORM count_message(NEW.mailbox_id, NEW.flags, NEW.size, 1);
	RETURN NULL;
END $$;
CREATE TRIGGER messages_count_update AFTER UPDATE OF flags, size, mailbox_id ON messages
	FOR EACH ROW EXECUTE FUNCTION messages_count_update();

-- The first unseen message, SEARCH UNSEEN and EXPUNGE read these; a
-- query must repeat the WHERE clause for the planner to use them.
CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE flags & 1 = 0;
CREATE INDEX messages_deleted ON messages(mailbox_id, uid) WHERE flags & 8 <> 0;

-- FETCH 1:* (FLAGS) reads the flags of a whole mailbox in UID order. In
-- SQLite the index holds keywords too; here it cannot: a btree entry must
-- fit in a third of a page (2704 octets), and a message may have 64
-- keywords of 100 octets. The keywords are read from the table.
CREATE INDEX messages_flags ON messages(mailbox_id, uid) INCLUDE (flags);
