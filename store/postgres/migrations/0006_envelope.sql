-- Pillarbox schema for PostgreSQL, version 6: the envelope parameters of
-- queued mail (SQLite's 0006_envelope.sql): RFC 3461 RET, ENVID, NOTIFY
-- and ORCPT ('' when not given) and RFC 8689 REQUIRETLS.
ALTER TABLE queue ADD COLUMN dsn_ret     text NOT NULL DEFAULT '' CHECK (dsn_ret IN ('', 'FULL', 'HDRS'));
ALTER TABLE queue ADD COLUMN dsn_envid   text NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN dsn_notify  text NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN dsn_orcpt   text NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN require_tls boolean NOT NULL DEFAULT false;
