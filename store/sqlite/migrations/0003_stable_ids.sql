-- Pillarbox schema, version 3: ids that are never reused, and a
-- credential generation per account.
--
-- An INTEGER PRIMARY KEY without AUTOINCREMENT hands out max(id)+1, so
-- deleting the newest account and adding another gave the new one the old
-- id, and sessions still holding that id (IMAP, submission) reached the
-- new account's mail. Ids of accounts, mailboxes, stored messages, queue
-- items and blobs escape into sessions, logs and the CLI, so each table is
-- rebuilt with AUTOINCREMENT, which never hands out an id twice. The
-- rows keep their ids; sqlite_sequence starts from the largest id in use.
--
-- accounts.credential goes up with every password change; a session
-- remembers the generation it logged in with, and ends when it changes.
--
-- The runner applies this with foreign keys off (the rebuild drops and
-- renames tables) and runs PRAGMA foreign_key_check before committing.

DROP TRIGGER messages_release_blob;
DROP TRIGGER queue_release_blob;
DROP TRIGGER blobs_release_text;
DROP TRIGGER mailboxes_add_counts;
DROP TRIGGER messages_count_insert;
DROP TRIGGER messages_count_delete;
DROP TRIGGER messages_count_update;

CREATE TABLE accounts_new (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	address       TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,      -- bcrypt
	created       INTEGER NOT NULL,
	credential    INTEGER NOT NULL DEFAULT 1
);
INSERT INTO accounts_new(id, address, password_hash, created)
	SELECT id, address, password_hash, created FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;

CREATE TABLE mailboxes_new (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	uidvalidity   INTEGER NOT NULL UNIQUE,
	uidnext       INTEGER NOT NULL DEFAULT 1,
	highestmodseq INTEGER NOT NULL DEFAULT 1,
	special_use   TEXT NOT NULL DEFAULT '',
	subscribed    INTEGER NOT NULL DEFAULT 0,
	UNIQUE (account_id, name)
);
INSERT INTO mailboxes_new SELECT id, account_id, name, uidvalidity, uidnext,
	highestmodseq, special_use, subscribed FROM mailboxes;
DROP TABLE mailboxes;
ALTER TABLE mailboxes_new RENAME TO mailboxes;

CREATE TABLE blobs_new (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	size       INTEGER NOT NULL,
	message_id TEXT NOT NULL DEFAULT '',
	sent_date  INTEGER,
	envelope   TEXT NOT NULL,
	structure  TEXT NOT NULL,
	data       BLOB NOT NULL
);
INSERT INTO blobs_new SELECT id, size, message_id, sent_date, envelope,
	structure, data FROM blobs;
DROP TABLE blobs;
ALTER TABLE blobs_new RENAME TO blobs;

CREATE TABLE messages_new (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	blob_id       INTEGER NOT NULL REFERENCES blobs(id),
	internal_date INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	flags         INTEGER NOT NULL DEFAULT 0,
	keywords      TEXT NOT NULL DEFAULT '',
	UNIQUE (mailbox_id, uid)
);
INSERT INTO messages_new SELECT id, mailbox_id, uid, modseq, blob_id,
	internal_date, size, flags, keywords FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;

CREATE TABLE queue_new (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	blob_id      INTEGER NOT NULL REFERENCES blobs(id),
	account_id   INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
	sender       TEXT NOT NULL,
	recipient    TEXT NOT NULL,
	domain       TEXT NOT NULL,
	state        TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'held')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	last_reply   TEXT NOT NULL DEFAULT '',
	warned       INTEGER NOT NULL DEFAULT 0
);
INSERT INTO queue_new SELECT id, blob_id, account_id, sender, recipient,
	domain, state, attempts, created, next_attempt, last_reply, warned FROM queue;
DROP TABLE queue;
ALTER TABLE queue_new RENAME TO queue;

CREATE INDEX messages_blob ON messages(blob_id);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE flags & 1 = 0;
CREATE INDEX messages_deleted ON messages(mailbox_id, uid) WHERE flags & 8 != 0;
CREATE INDEX messages_flags ON messages(mailbox_id, uid, flags, keywords);
CREATE INDEX queue_due ON queue(state, next_attempt);
CREATE INDEX queue_blob ON queue(blob_id);

-- The triggers of migrations 1 and 2, unchanged.
CREATE TRIGGER messages_release_blob AFTER DELETE ON messages
WHEN NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = OLD.blob_id)
 AND NOT EXISTS (SELECT 1 FROM queue WHERE blob_id = OLD.blob_id)
BEGIN
	DELETE FROM blobs WHERE id = OLD.blob_id;
END;
CREATE TRIGGER queue_release_blob AFTER DELETE ON queue
WHEN NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = OLD.blob_id)
 AND NOT EXISTS (SELECT 1 FROM queue WHERE blob_id = OLD.blob_id)
BEGIN
	DELETE FROM blobs WHERE id = OLD.blob_id;
END;
CREATE TRIGGER blobs_release_text AFTER DELETE ON blobs
BEGIN
	DELETE FROM blob_text WHERE docid = OLD.id;
END;
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
