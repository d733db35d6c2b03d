-- Pillarbox schema for PostgreSQL, version 10: the delivery history
-- (SQLite's 0010_history.sql), one row per event. blob_id and queue_id
-- are 0 when none and no foreign keys: the history outlives both, and
-- their ids are never handed out again. at is Unix milliseconds.
--
-- Pruning walks the oldest ids, assuming they come in commit order. With
-- several nodes writing, an identity is handed out at insert, not at
-- commit, so a smaller id may commit a little later than a larger one;
-- pruning by age is unaffected by that.
CREATE TABLE history (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at         bigint NOT NULL,
	event      text NOT NULL,
	blob_id    bigint NOT NULL DEFAULT 0,
	queue_id   bigint NOT NULL DEFAULT 0,
	message_id text NOT NULL DEFAULT '',
	address    text NOT NULL DEFAULT '',
	detail     text NOT NULL DEFAULT ''
);
-- The lookup indexes leave out the rows without the key (0 or '').
CREATE INDEX history_blob ON history(blob_id) WHERE blob_id <> 0;
CREATE INDEX history_queue ON history(queue_id) WHERE queue_id <> 0;
CREATE INDEX history_message_id ON history(message_id) WHERE message_id <> '';
CREATE INDEX history_address ON history(address) WHERE address <> '';
