-- Pillarbox schema for PostgreSQL, version 1: the rendering of SQLite's
-- 0001_init.sql. Times are bigint unix seconds, as there; ids come from
-- identity columns, which never hand out an id twice (SQLite needed
-- AUTOINCREMENT for that, version 3). Addresses are stored normalised.

-- Counters that must never go backwards, such as the next UIDVALIDITY.
-- A writer takes the row's lock (INSERT ... ON CONFLICT DO UPDATE), so
-- nodes sharing the database never hand out a value twice.
CREATE TABLE counters (
	name  text PRIMARY KEY,
	value bigint NOT NULL
);

CREATE TABLE accounts (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	address       text NOT NULL UNIQUE,
	password_hash text NOT NULL,      -- bcrypt
	created       bigint NOT NULL
);

-- An alias delivers to one or more local accounts.
CREATE TABLE aliases (
	address    text NOT NULL,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	PRIMARY KEY (address, account_id)
);
CREATE INDEX aliases_account ON aliases(account_id);

-- Mailboxes (IMAP folders). uidvalidity is unique across the database
-- (RFC 9051 2.3.1.1). uidnext and highestmodseq stay columns here, as in
-- SQLite: a writer on any node allocates UIDs and MODSEQs under this
-- row's lock (SELECT ... FOR UPDATE or UPDATE ... RETURNING).
CREATE TABLE mailboxes (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account_id    bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name          text NOT NULL,
	uidvalidity   bigint NOT NULL UNIQUE,
	uidnext       bigint NOT NULL DEFAULT 1,
	highestmodseq bigint NOT NULL DEFAULT 1,
	special_use   text NOT NULL DEFAULT '',  -- "\Sent", "\Trash", ... or ''
	subscribed    boolean NOT NULL DEFAULT false,
	UNIQUE (account_id, name)
);

-- One blob per received message however many recipients share it.
-- envelope and structure are JSON kept as text: read back as written,
-- never queried inside. data is stored out of line (TOAST) when large,
-- so reading the other columns does not read the message.
CREATE TABLE blobs (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	size       bigint NOT NULL,
	message_id text NOT NULL DEFAULT '',
	sent_date  bigint,                       -- Date: header, NULL if absent or unparsable
	envelope   text NOT NULL,
	structure  text NOT NULL,
	data       bytea NOT NULL
);

-- The search index: each blob's words as a tsvector, for PostgreSQL's
-- full-text search, in place of SQLite's FTS4 table of the same name. A
-- row of its own keeps blobs insert-only, and a blob without a row is one
-- not indexed yet: there is no blob_text_pending, which SQLite needed
-- because FTS4 wrote a segment per savepoint (GIN batches its own
-- updates in its pending list). The row goes with its blob.
CREATE TABLE blob_text (
	blob_id bigint PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
	terms   tsvector NOT NULL
);
CREATE INDEX blob_text_terms ON blob_text USING gin (terms);

-- A message in a mailbox. flags is a bit set of the IMAP system flags
-- (see store.Flag*); keywords holds the other flags separated by spaces.
CREATE TABLE messages (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	mailbox_id    bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid           bigint NOT NULL,
	modseq        bigint NOT NULL,
	blob_id       bigint NOT NULL REFERENCES blobs(id),
	internal_date bigint NOT NULL,
	size          bigint NOT NULL,
	flags         integer NOT NULL DEFAULT 0,
	keywords      text NOT NULL DEFAULT '',
	UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_blob ON messages(blob_id);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);

-- The outbound queue: one row per (message, recipient).
CREATE TABLE queue (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	blob_id      bigint NOT NULL REFERENCES blobs(id),
	account_id   bigint REFERENCES accounts(id) ON DELETE SET NULL, -- who submitted it
	sender       text NOT NULL,        -- envelope sender, '' for bounces
	recipient    text NOT NULL,
	domain       text COLLATE "C" NOT NULL, -- recipient domain, for per-destination grouping; byte order, as the relay walks it
	state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'held')),
	attempts     integer NOT NULL DEFAULT 0,
	created      bigint NOT NULL,
	next_attempt bigint NOT NULL,
	last_reply   text NOT NULL DEFAULT '',
	warned       boolean NOT NULL DEFAULT false -- a delay warning was sent
);
CREATE INDEX queue_due ON queue(state, next_attempt);
CREATE INDEX queue_blob ON queue(blob_id);

CREATE TABLE queue_attempts (
	id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	queue_id bigint NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
	at       bigint NOT NULL,
	remote   text NOT NULL,  -- host that answered, '' if none did
	reply    text NOT NULL
);
CREATE INDEX queue_attempts_item ON queue_attempts(queue_id);

-- A blob lives as long as a message or a queue row refers to it. The
-- blob's row is locked before looking: two transactions removing its
-- last two references at once would otherwise each still see the
-- other's (uncommitted) one and leave the blob behind. With the lock,
-- the second waits, and its next statement (READ COMMITTED, the default)
-- sees the first's removal. A transaction adding a reference holds a
-- key-share lock on the blob (the foreign key), which also makes the
-- remover wait and then see it.
CREATE FUNCTION release_blob(blob bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM blobs WHERE id = blob FOR UPDATE;
	IF NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = blob)
	   AND NOT EXISTS (SELECT 1 FROM queue WHERE blob_id = blob) THEN
		DELETE FROM blobs WHERE id = blob;
	END IF;
END $$;

CREATE FUNCTION release_blob_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM release_blob(OLD.blob_id);
	RETURN NULL;
END $$;

CREATE TRIGGER messages_release_blob AFTER DELETE ON messages
	FOR EACH ROW EXECUTE FUNCTION release_blob_trigger();
CREATE TRIGGER queue_release_blob AFTER DELETE ON queue
	FOR EACH ROW EXECUTE FUNCTION release_blob_trigger();
-- SQLite's blobs_release_text is the foreign key of blob_text here.
