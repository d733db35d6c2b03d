-- Pillarbox schema, version 11: manual retries kept apart from attempts.
--
-- attempts counts the tries made; manual_retries the tries an operator
-- asked for (`pillarbox queue retry`) while the item waited for a later
-- one. The relay's backoff step is attempts - manual_retries, so that a
-- manual retry does not lengthen the waits after it, and attempts stays
-- the number of tries.

ALTER TABLE queue ADD COLUMN manual_retries INTEGER NOT NULL DEFAULT 0;
