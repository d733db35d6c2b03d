-- Pillarbox schema, version 19: when each message was saved in its
-- mailbox (RFC 8514 SAVEDATE): delivery, APPEND, COPY and MOVE set it to
-- the time of the write, in Unix seconds. Messages stored before have
-- none; SAVEDATE reads their internal date then.
ALTER TABLE messages ADD COLUMN saved INTEGER;
