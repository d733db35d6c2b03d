-- Pillarbox schema: the copies of submitted mail that Pillarbox filed in
-- the sender's Sent folder itself (issue 9). Planned as migration 9; it
-- is numbered 6 on its branch only because migrations may have no gap,
-- and is renumbered when the other migrations of issue 9 are merged.
--
-- A mail app that also uploads its own copy of the message (IMAP APPEND
-- to the \Sent folder) would leave two copies; the APPEND finds the
-- automatic one here by the account and the Message-ID and expunges it
-- (mailbox.Service.Append). A row goes with its message (expunged,
-- moved away, folder or account deleted), and rows older than the
-- matching window are pruned by the next submission. saved is unix
-- milliseconds, so that the 15-minute window is exact.
CREATE TABLE sent_copies (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	message_id TEXT NOT NULL,
	saved      INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid),
	FOREIGN KEY (mailbox_id, uid) REFERENCES messages(mailbox_id, uid) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX sent_copies_message ON sent_copies(account_id, message_id);
CREATE INDEX sent_copies_saved ON sent_copies(saved);
