-- Pillarbox schema, version 4: local domains and their DKIM keys.
--
-- A domain added with `pillarbox domain add` (or listed in the config,
-- added at start) lives here, with the keys that sign the mail leaving
-- for it. name is the ASCII (punycode) form, lower-case.
--
-- A key is 'active' (signs) or 'retiring' (kept, still published, no
-- longer chosen for new keys of rotation); rotation will use the state.
-- private_key is PKCS#8 DER; it never leaves the database except to sign.

CREATE TABLE domains (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	name    TEXT NOT NULL UNIQUE,
	created INTEGER NOT NULL
);

CREATE TABLE dkim_keys (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
	selector    TEXT NOT NULL,
	algorithm   TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
	private_key BLOB NOT NULL,
	created     INTEGER NOT NULL,
	state       TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retiring')),
	UNIQUE (domain_id, selector)
);
CREATE INDEX dkim_keys_domain ON dkim_keys(domain_id);
