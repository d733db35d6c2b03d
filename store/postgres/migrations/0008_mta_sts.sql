-- Pillarbox schema for PostgreSQL, version 8: transport security of the
-- relay (SQLite's 0008_mta_sts.sql). mta_sts_policies caches MTA-STS
-- policies (RFC 8461) across restarts, one row per policy domain, times
-- in Unix milliseconds; queue_attempts.tls records how each attempt used
-- TLS, '' for attempts before this version or that reached no host.
CREATE TABLE mta_sts_policies (
	domain    text PRIMARY KEY,
	policy_id text NOT NULL,
	policy    text NOT NULL,
	fetched   bigint NOT NULL,
	expires   bigint NOT NULL,
	last_used bigint NOT NULL
);
CREATE INDEX mta_sts_policies_fetched ON mta_sts_policies(fetched);
CREATE INDEX mta_sts_policies_expires ON mta_sts_policies(expires);

ALTER TABLE queue_attempts ADD COLUMN tls text NOT NULL DEFAULT '';
