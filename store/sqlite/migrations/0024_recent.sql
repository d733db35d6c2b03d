-- Pillarbox schema, version 24: \Recent (RFC 3501 2.3.2) survives a
-- restart and is claimed once across nodes. recent_uid is the lowest UID
-- that no session has claimed yet by selecting the mailbox read-write: the
-- messages from it on are \Recent for the next such session. A mailbox
-- made from now on starts at 1; those already here start at uidnext,
-- with nothing recent, which is what a restart left them with before.
ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 1;
UPDATE mailboxes SET recent_uid = uidnext;
