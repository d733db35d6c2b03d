-- Pillarbox schema for PostgreSQL, version 20: the folder totals follow a
-- flag change with one update, and only when it changes them (SQLite's
-- 0020_count_trigger.sql). Only \Seen (1) and \Deleted (8) count, so a
-- change of another flag or a keyword no longer touches mailbox_counts,
-- and one of \Seen or \Deleted updates it once instead of twice. A
-- message moved to another folder by an update still leaves the one and
-- joins the other.
DROP TRIGGER messages_count_update ON messages;
DROP FUNCTION messages_count_update();

CREATE FUNCTION messages_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE mailbox_counts SET
		unseen = unseen - (OLD.flags & 1 = 0)::int + (NEW.flags & 1 = 0)::int,
		deleted = deleted - (OLD.flags & 8 <> 0)::int + (NEW.flags & 8 <> 0)::int,
		size = size - OLD.size + NEW.size,
		deleted_size = deleted_size - (CASE WHEN OLD.flags & 8 <> 0 THEN OLD.size ELSE 0 END)
			+ (CASE WHEN NEW.flags & 8 <> 0 THEN NEW.size ELSE 0 END)
	WHERE mailbox_id = NEW.mailbox_id;
	RETURN NULL;
END $$;
CREATE TRIGGER messages_count_update AFTER UPDATE OF flags, size ON messages
	FOR EACH ROW WHEN (OLD.mailbox_id = NEW.mailbox_id AND ((OLD.flags & 9) <> (NEW.flags & 9) OR OLD.size <> NEW.size))
	EXECUTE FUNCTION messages_count_update();

CREATE FUNCTION messages_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM count_message(OLD.mailbox_id, OLD.flags, OLD.size, -1);
	PERFORM count_message(NEW.mailbox_id, NEW.flags, NEW.size, 1);
	RETURN NULL;
END $$;
CREATE TRIGGER messages_count_move AFTER UPDATE OF mailbox_id ON messages
	FOR EACH ROW WHEN (OLD.mailbox_id <> NEW.mailbox_id)
	EXECUTE FUNCTION messages_count_move();
