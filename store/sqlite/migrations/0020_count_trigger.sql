-- Pillarbox schema, version 20: the folder totals follow a flag change
-- with one update, and only when it changes them.
--
-- The trigger of version 3 took each updated message out of its folder's
-- totals and put it back: two updates of mailbox_counts for every message
-- a STORE touched, whatever the flag. Only \Seen (1) and \Deleted (8)
-- count, so a change of \Flagged, \Answered, \Draft or a keyword now
-- costs nothing here, and one of \Seen or \Deleted one update. A message
-- moved to another folder by an update (no statement does that today)
-- still leaves the one and joins the other.

DROP TRIGGER messages_count_update;

CREATE TRIGGER messages_count_update AFTER UPDATE OF flags, size ON messages
WHEN OLD.mailbox_id = NEW.mailbox_id AND ((OLD.flags & 9) != (NEW.flags & 9) OR OLD.size != NEW.size)
BEGIN
	UPDATE mailbox_counts SET
		unseen = unseen - (OLD.flags & 1 = 0) + (NEW.flags & 1 = 0),
		deleted = deleted - (OLD.flags & 8 != 0) + (NEW.flags & 8 != 0),
		size = size - OLD.size + NEW.size,
		deleted_size = deleted_size - (CASE WHEN OLD.flags & 8 != 0 THEN OLD.size ELSE 0 END)
			+ (CASE WHEN NEW.flags & 8 != 0 THEN NEW.size ELSE 0 END)
	WHERE mailbox_id = NEW.mailbox_id;
END;

CREATE TRIGGER messages_count_move AFTER UPDATE OF mailbox_id ON messages
WHEN OLD.mailbox_id != NEW.mailbox_id
BEGIN
	UPDATE mailbox_counts SET
		messages = messages - 1,
		unseen = unseen - (OLD.flags & 1 = 0),
		deleted = deleted - (OLD.flags & 8 != 0),
		size = size - OLD.size,
		deleted_size = deleted_size - (CASE WHEN OLD.flags & 8 != 0 THEN OLD.size ELSE 0 END)
	WHERE mailbox_id = OLD.mailbox_id;
	UPDATE mailbox_counts SET
		messages = messages + 1,
		unseen = unseen + (NEW.flags & 1 = 0),
		deleted = deleted + (NEW.flags & 8 != 0),
		size = size + NEW.size,
		deleted_size = deleted_size + (CASE WHEN NEW.flags & 8 != 0 THEN NEW.size ELSE 0 END)
	WHERE mailbox_id = NEW.mailbox_id;
END;
