-- Pillarbox schema, version 10: the delivery history, each message's
-- story (pillarbox trace).
--
-- One row per event: received, delivered (locally), queued, deferred,
-- relayed, bounced, deleted (by the operator). blob_id is the stored
-- message's id and queue_id the queue item's, 0 when none; neither is a
-- foreign key, as the history outlives both (their ids come from
-- AUTOINCREMENT and are never handed out again, so an old event cannot
-- name a newer message). address is the recipient an event concerns, or
-- the envelope sender for received. at is Unix milliseconds; rows older
-- than history_days are pruned a bounded batch at a time by the writes
-- that add new ones.
CREATE TABLE history (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	at         INTEGER NOT NULL,
	event      TEXT NOT NULL,
	blob_id    INTEGER NOT NULL DEFAULT 0,
	queue_id   INTEGER NOT NULL DEFAULT 0,
	message_id TEXT NOT NULL DEFAULT '',
	address    TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT ''
);
-- The lookup indexes leave out the rows without the key (0 or ''), and
-- there is none on at: pruning walks the oldest ids, which come in
-- commit order. Every index is a write per event on the delivery path.
CREATE INDEX history_blob ON history(blob_id) WHERE blob_id != 0;
CREATE INDEX history_queue ON history(queue_id) WHERE queue_id != 0;
CREATE INDEX history_message_id ON history(message_id) WHERE message_id != '';
CREATE INDEX history_address ON history(address) WHERE address != '';
