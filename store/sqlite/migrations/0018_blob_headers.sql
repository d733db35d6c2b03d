-- Pillarbox schema, version 18: the decoded header text of each blob, for
-- the HEADER and SUBJECT search keys (store/headers.go).
--
-- The full-text index keeps no text (version 16), so a search of a
-- header field had to decode every candidate message from its stored
-- octets; a word in most subjects made that every message. This keeps
-- what the search text function gives for the header ("Name: value"
-- lines, decoded), a few percent of the mail. Blobs stored before this
-- version get theirs from a background task (DB.BackfillHeaders); until
-- then their header is decoded at search time, as before.
CREATE TABLE blob_headers (
	blob_id INTEGER PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
	text    TEXT NOT NULL
);
