-- Pillarbox schema for PostgreSQL, version 13: per-account storage
-- quotas (SQLite's 0013_quota.sql, RFC 9208's STORAGE). quota is the
-- limit in octets, 0 for none; usage the sum of the sizes of the
-- account's messages, kept exact by the triggers below in the
-- transaction of every write (a delta under the account row's lock, so
-- writers on several nodes add up). A blob shared by two messages of one
-- account counts twice, as RFC 9208 5.1 counts messages.
ALTER TABLE accounts ADD COLUMN quota bigint NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN usage bigint NOT NULL DEFAULT 0;

UPDATE accounts SET usage = (
	SELECT coalesce(sum(m.size), 0) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
	WHERE b.account_id = accounts.id);

-- use_storage adds size to the usage of the account owning mailbox; a
-- mailbox already deleted (its messages going by the cascade) has none,
-- see mailboxes_usage_delete.
CREATE FUNCTION use_storage(mailbox bigint, size bigint) RETURNS void LANGUAGE sql AS $$
	UPDATE accounts SET usage = usage + use_storage.size
	WHERE id = (SELECT account_id FROM mailboxes WHERE id = mailbox);
$$;

CREATE FUNCTION messages_usage_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM use_storage(NEW.mailbox_id, NEW.size);
	RETURN NULL;
END $$;
CREATE TRIGGER messages_usage_insert AFTER INSERT ON messages
	FOR EACH ROW EXECUTE FUNCTION messages_usage_insert();

CREATE FUNCTION messages_usage_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM use_storage(OLD.mailbox_id, -OLD.size);
	RETURN NULL;
END $$;
CREATE TRIGGER messages_usage_delete AFTER DELETE ON messages
	FOR EACH ROW EXECUTE FUNCTION messages_usage_delete();

CREATE FUNCTION messages_usage_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM use_storage(OLD.mailbox_id, -OLD.size);
	PERFORM use_storage(NEW.mailbox_id, NEW.size);
	RETURN NULL;
END $$;
CREATE TRIGGER messages_usage_update AFTER UPDATE OF size, mailbox_id ON messages
	FOR EACH ROW WHEN (OLD.size <> NEW.size OR OLD.mailbox_id <> NEW.mailbox_id)
	EXECUTE FUNCTION messages_usage_update();

-- Deleting a folder removes its messages through the foreign key after
-- the folder row has gone (the cascade runs at the end of the
-- statement), so the triggers above no longer find its account: the
-- folder's messages are taken off here, before.
CREATE FUNCTION mailboxes_usage_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE accounts SET usage = usage - (SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = OLD.id)
	WHERE id = OLD.account_id;
	RETURN OLD;
END $$;
CREATE TRIGGER mailboxes_usage_delete BEFORE DELETE ON mailboxes
	FOR EACH ROW EXECUTE FUNCTION mailboxes_usage_delete();
