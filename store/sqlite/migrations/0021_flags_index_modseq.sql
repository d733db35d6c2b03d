-- Pillarbox schema, version 21: the index FETCH (FLAGS) reads holds each
-- message's MODSEQ too.
--
-- FETCH (FLAGS) reads UID, flags, MODSEQ and keywords of every message in
-- a UID range (CONDSTORE clients get MODSEQ with the flags). The index of
-- version 3 held all but MODSEQ, so each row was also looked up in the
-- table. A flag change already rewrites the entry (its flags are in the
-- key), and every flag change also sets MODSEQ, so writes cost the same.

DROP INDEX messages_flags;
CREATE INDEX messages_flags ON messages(mailbox_id, uid, flags, modseq, keywords);
