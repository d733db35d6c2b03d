-- Pillarbox schema for PostgreSQL, version 7: the queue's due times in
-- milliseconds since the epoch (SQLite's 0007_queue_millis.sql);
-- queue_attempts.at stays in seconds. queue_domain_due lets the
-- scheduler find the next destination domain with queued mail, and its
-- due items, with one index range each (issue 9).
UPDATE queue SET created = created * 1000, next_attempt = next_attempt * 1000;
CREATE INDEX queue_domain_due ON queue(state, domain, next_attempt);
