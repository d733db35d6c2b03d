-- Pillarbox schema, version 9: the recent copies of sent mail in Sent
-- folders.
--
-- kind 'auto' is a copy that submission filed in the sender's \Sent
-- folder itself; 'upload' is a message a mail app uploaded to a \Sent
-- folder (IMAP APPEND). Apps upload their own copy of what they sent,
-- which would leave two: an upload finds the automatic copy here by the
-- account and the Message-ID and expunges it, and a submission of a
-- message already uploaded files no copy (mailbox/sent.go). A row goes
-- with its message (expunged, moved away, folder or account deleted),
-- and rows older than the matching window are pruned by the next
-- submission or upload. saved is unix milliseconds, so that the
-- 15-minute window is exact.
CREATE TABLE sent_copies (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	message_id TEXT NOT NULL,
	kind       TEXT NOT NULL CHECK (kind IN ('auto', 'upload')),
	saved      INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid),
	FOREIGN KEY (mailbox_id, uid) REFERENCES messages(mailbox_id, uid) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX sent_copies_message ON sent_copies(account_id, message_id, kind, saved);
CREATE INDEX sent_copies_saved ON sent_copies(saved);
