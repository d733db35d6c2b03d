-- Pillarbox schema, version 1.
-- Times are INTEGER unix seconds. Addresses are stored normalised
-- (see mailbox.ParseAddress): lower-case local part and ASCII domain.

-- Counters that must never go backwards, such as the next UIDVALIDITY.
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
	id            INTEGER PRIMARY KEY,
	address       TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,      -- bcrypt
	created       INTEGER NOT NULL
);

-- An alias delivers to one or more local accounts.
CREATE TABLE aliases (
	address    TEXT NOT NULL,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	PRIMARY KEY (address, account_id)
) WITHOUT ROWID;
CREATE INDEX aliases_account ON aliases(account_id);

-- Mailboxes (IMAP folders). name uses "/" as hierarchy delimiter, UTF-8.
-- uidvalidity is unique across the whole database so that a name deleted
-- and created again never gets a UIDVALIDITY it had before (RFC 9051 2.3.1.1).
CREATE TABLE mailboxes (
	id            INTEGER PRIMARY KEY,
	account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	uidvalidity   INTEGER NOT NULL UNIQUE,
	uidnext       INTEGER NOT NULL DEFAULT 1,
	highestmodseq INTEGER NOT NULL DEFAULT 1,
	special_use   TEXT NOT NULL DEFAULT '',  -- "\Sent", "\Trash", ... or ''
	subscribed    INTEGER NOT NULL DEFAULT 0,
	UNIQUE (account_id, name)
);

-- One blob per received message however many recipients share it.
-- envelope and structure are the JSON of mailbox.Envelope and
-- mailbox.Part, computed once at delivery. data is last so that reading
-- the metadata columns does not touch the overflow pages of the body.
CREATE TABLE blobs (
	id         INTEGER PRIMARY KEY,
	size       INTEGER NOT NULL,
	message_id TEXT NOT NULL DEFAULT '',
	sent_date  INTEGER,                      -- Date: header, NULL if absent or unparsable
	envelope   TEXT NOT NULL,
	structure  TEXT NOT NULL,
	data       BLOB NOT NULL
);

-- Decoded header and body text of each blob for SEARCH; docid = blobs.id.
CREATE VIRTUAL TABLE blob_text USING fts4(header, body, tokenize=unicode61);
-- Incremental merges keep any one commit from paying for a large merge.
INSERT INTO blob_text(blob_text) VALUES ('automerge=8');

-- Search text waiting to enter blob_text. FTS4 writes an index segment at
-- every savepoint, so indexing inside each delivery would cost a segment
-- (and its merges) per message; the indexer moves these rows into
-- blob_text in batches instead (see store.DB.FlushIndex).
CREATE TABLE blob_text_pending (
	blob_id INTEGER PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
	header  TEXT NOT NULL,
	body    TEXT NOT NULL
);

-- A message in a mailbox. flags is a bit set of the IMAP system flags
-- (see store.Flag*); keywords holds the other flags separated by spaces.
CREATE TABLE messages (
	id            INTEGER PRIMARY KEY,
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
CREATE INDEX messages_blob ON messages(blob_id);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);

-- The outbound queue: one row per (message, recipient).
CREATE TABLE queue (
	id           INTEGER PRIMARY KEY,
	blob_id      INTEGER NOT NULL REFERENCES blobs(id),
	account_id   INTEGER REFERENCES accounts(id) ON DELETE SET NULL, -- who submitted it
	sender       TEXT NOT NULL,        -- envelope sender, '' for bounces
	recipient    TEXT NOT NULL,
	domain       TEXT NOT NULL,        -- recipient domain, for per-destination grouping
	state        TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'held')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	last_reply   TEXT NOT NULL DEFAULT '',
	warned       INTEGER NOT NULL DEFAULT 0 -- a delay warning was sent
);
CREATE INDEX queue_due ON queue(state, next_attempt);
CREATE INDEX queue_blob ON queue(blob_id);

CREATE TABLE queue_attempts (
	id       INTEGER PRIMARY KEY,
	queue_id INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
	at       INTEGER NOT NULL,
	remote   TEXT NOT NULL,  -- host that answered, '' if none did
	reply    TEXT NOT NULL
);
CREATE INDEX queue_attempts_item ON queue_attempts(queue_id);

-- A blob lives as long as a message or a queue row refers to it.
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
