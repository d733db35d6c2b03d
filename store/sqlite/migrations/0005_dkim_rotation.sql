-- Pillarbox schema, version 5: DKIM key rotation.
--
-- A key is now 'pending' (made by `pillarbox dkim rotate`, published by
-- the operator, not yet signing), 'active' (signs) or 'retiring' (no
-- longer signs; its record stays published a while, for mail already
-- sent). changed is when the state last changed. SQLite cannot alter a
-- CHECK constraint, so the table is rebuilt; nothing refers to it.

CREATE TABLE dkim_keys_new (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
	selector    TEXT NOT NULL,
	algorithm   TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
	private_key BLOB NOT NULL,
	created     INTEGER NOT NULL,
	state       TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('pending', 'active', 'retiring')),
	changed     INTEGER NOT NULL,
	UNIQUE (domain_id, selector)
);
INSERT INTO dkim_keys_new(id, domain_id, selector, algorithm, private_key, created, state, changed)
	SELECT id, domain_id, selector, algorithm, private_key, created, state, created FROM dkim_keys;
-- Ids are never handed out twice: the new table's counter carries on from
-- the old one's, which may be past the largest id left.
DELETE FROM sqlite_sequence WHERE name = 'dkim_keys_new';
INSERT INTO sqlite_sequence(name, seq) SELECT 'dkim_keys_new', seq FROM sqlite_sequence WHERE name = 'dkim_keys';
DROP TABLE dkim_keys;
ALTER TABLE dkim_keys_new RENAME TO dkim_keys;
CREATE INDEX dkim_keys_domain ON dkim_keys(domain_id);
