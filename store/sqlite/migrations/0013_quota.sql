-- Pillarbox schema, version 13: per-account storage quotas (RFC 9208's
-- STORAGE resource).
--
-- quota is the limit in octets, 0 for none. usage is the sum of the
-- sizes of the account's messages, so that a quota check reads one row.
-- The triggers below keep it exact in the transaction of every write
-- that adds, copies, moves or removes a message; a folder deleted with
-- its messages has a trigger of its own (see the last one). A blob shared
-- by two messages of one account counts twice: RFC 9208 5.1 counts the
-- messages, whatever the server shares on disk.
ALTER TABLE accounts ADD COLUMN quota INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN usage INTEGER NOT NULL DEFAULT 0;

-- Existing mail is counted once, from the messages themselves.
UPDATE accounts SET usage = (
	SELECT coalesce(sum(m.size), 0) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
	WHERE b.account_id = accounts.id);

CREATE TRIGGER messages_usage_insert AFTER INSERT ON messages
BEGIN
	UPDATE accounts SET usage = usage + NEW.size
	WHERE id = (SELECT account_id FROM mailboxes WHERE id = NEW.mailbox_id);
END;

CREATE TRIGGER messages_usage_delete AFTER DELETE ON messages
BEGIN
	UPDATE accounts SET usage = usage - OLD.size
	WHERE id = (SELECT account_id FROM mailboxes WHERE id = OLD.mailbox_id);
END;

CREATE TRIGGER messages_usage_update AFTER UPDATE OF size, mailbox_id ON messages
WHEN OLD.size != NEW.size OR OLD.mailbox_id != NEW.mailbox_id
BEGIN
	UPDATE accounts SET usage = usage - OLD.size
	WHERE id = (SELECT account_id FROM mailboxes WHERE id = OLD.mailbox_id);
	UPDATE accounts SET usage = usage + NEW.size
	WHERE id = (SELECT account_id FROM mailboxes WHERE id = NEW.mailbox_id);
END;

-- Deleting a folder removes its messages through the foreign key only
-- after the folder row has gone, so the triggers above no longer find its
-- account: the folder's messages are taken off here, before.
CREATE TRIGGER mailboxes_usage_delete BEFORE DELETE ON mailboxes
BEGIN
	UPDATE accounts SET usage = usage - (SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = OLD.id)
	WHERE id = OLD.account_id;
END;
