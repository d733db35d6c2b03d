-- Pillarbox schema, version 8: transport security of the relay.
--
-- mta_sts_policies caches MTA-STS policies (RFC 8461 3.3, 5.1) across
-- restarts: one row per policy domain, the policy kept as its text (the
-- relay parses it back). Times are Unix milliseconds. last_used is when a
-- delivery last needed the policy; only used policies are refreshed.
--
-- queue_attempts.tls records how each attempt used TLS ("TLS 1.3,
-- certificate verified (MTA-STS)", "none: STARTTLS failed ...; retried
-- in plaintext"); '' for attempts recorded before this version or that
-- reached no host.

CREATE TABLE mta_sts_policies (
	domain    TEXT PRIMARY KEY,
	policy_id TEXT NOT NULL,
	policy    TEXT NOT NULL,
	fetched   INTEGER NOT NULL,
	expires   INTEGER NOT NULL,
	last_used INTEGER NOT NULL
);
CREATE INDEX mta_sts_policies_fetched ON mta_sts_policies(fetched);
CREATE INDEX mta_sts_policies_expires ON mta_sts_policies(expires);

ALTER TABLE queue_attempts ADD COLUMN tls TEXT NOT NULL DEFAULT '';
