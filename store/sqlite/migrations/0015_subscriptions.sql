-- Pillarbox schema, version 15: subscriptions are a set of names per
-- account, apart from the mailboxes (RFC 9051 6.3.7 and 6.3.8, RFC 5258).
--
-- A name stays subscribed when its mailbox is deleted or renamed, and a
-- name without a mailbox can be subscribed: the server must not remove a
-- name from the list on its own (RFC 9051 6.3.7). Names are stored as
-- mailbox names are, with INBOX in upper case.
CREATE TABLE subscriptions (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	PRIMARY KEY (account_id, name)
) WITHOUT ROWID;

INSERT INTO subscriptions(account_id, name)
	SELECT account_id, name FROM mailboxes WHERE subscribed <> 0;

-- No index, trigger or view uses the column, so SQLite drops it in place
-- and the mailboxes keep their ids.
ALTER TABLE mailboxes DROP COLUMN subscribed;
