-- Pillarbox schema for PostgreSQL, version 4: local domains and their
-- DKIM keys (SQLite's 0004_domains.sql). name is the ASCII (punycode)
-- form, lower-case; private_key is PKCS#8 DER and never leaves the
-- database except to sign.
CREATE TABLE domains (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name    text NOT NULL UNIQUE,
	created bigint NOT NULL
);

-- The state's constraint is named so that version 5 can replace it.
CREATE TABLE dkim_keys (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain_id   bigint NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
	selector    text NOT NULL,
	algorithm   text NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
	private_key bytea NOT NULL,
	created     bigint NOT NULL,
	state       text NOT NULL DEFAULT 'active' CONSTRAINT dkim_keys_state CHECK (state IN ('active', 'retiring')),
	UNIQUE (domain_id, selector)
);
CREATE INDEX dkim_keys_domain ON dkim_keys(domain_id);
