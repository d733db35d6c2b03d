-- Pillarbox schema for PostgreSQL, version 15: subscriptions are a set
-- of names per account, apart from the mailboxes (SQLite's
-- 0015_subscriptions.sql, RFC 9051 6.3.7): a name stays subscribed when
-- its mailbox goes, and a name without a mailbox can be subscribed.
CREATE TABLE subscriptions (
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       text NOT NULL,
	PRIMARY KEY (account_id, name)
);

INSERT INTO subscriptions(account_id, name)
	SELECT account_id, name FROM mailboxes WHERE subscribed;

ALTER TABLE mailboxes DROP COLUMN subscribed;
