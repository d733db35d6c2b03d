-- Pillarbox schema, version 7: the queue's due times in milliseconds.
--
-- created and next_attempt were whole seconds since the epoch, rounded
-- down, so that a retry step of one second after an attempt at 0.7 s came
-- due at 1.0 s. They become milliseconds since the epoch; every other
-- column and every id stays as it was. queue_attempts.at, a record for
-- people, stays in seconds.
--
-- queue_domain_due lets the scheduler find the next destination domain
-- with queued mail, and that domain's due items, with one index seek
-- each instead of reading the due items of every domain (issue 9: a
-- backlog of one domain must not hide the others).

UPDATE queue SET created = created * 1000, next_attempt = next_attempt * 1000;
CREATE INDEX queue_domain_due ON queue(state, domain, next_attempt);
