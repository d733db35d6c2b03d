-- Pillarbox schema, version 17: the parsed addresses of each blob's From,
-- To, Cc and Bcc, for SEARCH FROM, TO, CC and BCC (store/addresses.go).
--
-- Each column holds store.AddressText of the field's address list: every
-- address as "name <local@domain>" (or "local@domain"), groups as
-- "name: members;", case-folded, so that a search is a substring test
-- (instr) on one row per message. Existing blobs get theirs from the
-- addresses of their stored ENVELOPE (pillarbox_envelope_addresses, the
-- same Go function delivery uses, registered by the store).
CREATE TABLE blob_addresses (
	blob_id   INTEGER PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
	from_text TEXT NOT NULL,
	to_text   TEXT NOT NULL,
	cc_text   TEXT NOT NULL,
	bcc_text  TEXT NOT NULL
);

INSERT INTO blob_addresses(blob_id, from_text, to_text, cc_text, bcc_text)
	SELECT id, pillarbox_envelope_addresses(envelope, 'f'), pillarbox_envelope_addresses(envelope, 't'),
		pillarbox_envelope_addresses(envelope, 'c'), pillarbox_envelope_addresses(envelope, 'b')
	FROM blobs ORDER BY id;
