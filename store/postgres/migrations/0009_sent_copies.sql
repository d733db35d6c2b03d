-- Pillarbox schema for PostgreSQL, version 9: the recent copies of sent
-- mail in Sent folders (SQLite's 0009_sent_copies.sql). kind 'auto' is a
-- copy submission filed, 'upload' one a mail app APPENDed; a row goes
-- with its message. saved is Unix milliseconds.
CREATE TABLE sent_copies (
	mailbox_id bigint NOT NULL,
	uid        bigint NOT NULL,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	message_id text NOT NULL,
	kind       text NOT NULL CHECK (kind IN ('auto', 'upload')),
	saved      bigint NOT NULL,
	PRIMARY KEY (mailbox_id, uid),
	FOREIGN KEY (mailbox_id, uid) REFERENCES messages(mailbox_id, uid) ON DELETE CASCADE
);
CREATE INDEX sent_copies_message ON sent_copies(account_id, message_id, kind, saved);
CREATE INDEX sent_copies_saved ON sent_copies(saved);
