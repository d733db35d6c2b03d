-- Pillarbox schema: expunged UIDs remembered with the MODSEQ of their
-- expunge, for QRESYNC (RFC 7162 3.2.5: SELECT/EXAMINE (QRESYNC ...) and
-- UID FETCH (VANISHED) report the UIDs expunged since a client's
-- MODSEQ; 3.2.10: the VANISHED response).
--
-- One row per message removed from a mailbox (EXPUNGE, UID EXPUNGE,
-- CLOSE, MOVE's source side, a Sent copy replaced by the client's own),
-- written in the transaction that removes it. A UID is never given twice
-- in a mailbox, so (mailbox_id, uid) is a key. The rows go with their
-- mailbox: a deleted folder (or account) takes its history along, and a
-- folder created again under the same name gets a new UIDVALIDITY, which
-- tells a client to forget everything it knew.
CREATE TABLE vanished (
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
-- "UIDs expunged in mailbox M with modseq > N": a range of this index,
-- which holds uid as well (the key of a WITHOUT ROWID table), so the
-- query never reads the table.
CREATE INDEX vanished_modseq ON vanished(mailbox_id, modseq);

-- vanished_floor is the highest MODSEQ of an expunge the mailbox no
-- longer remembers: pruning (store.Tx.PruneVanished) raises it to the
-- MODSEQ of every row it forgets. A client that asks for the expunges
-- since a MODSEQ at or above the floor gets the exact list; below it, it
-- gets every UID under UIDNEXT that is not in the mailbox, which holds
-- all it may have missed (see store.Snapshot.VanishedSince).
--
-- Expunges made before this migration were never recorded: the floor of
-- every existing mailbox starts at its HIGHESTMODSEQ, so a client that
-- resynchronises from an older MODSEQ gets the full answer. New
-- mailboxes start at 0: they have forgotten nothing.
ALTER TABLE mailboxes ADD COLUMN vanished_floor INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET vanished_floor = highestmodseq;
