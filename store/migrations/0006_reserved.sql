-- Pillarbox schema, version 6: reserved for the branch that adds the DSN
-- and REQUIRETLS columns of queue items (issue 9), so that migration 7
-- below can be written and tested on its own. When the branches are
-- merged, this file is deleted in favour of that branch's 0006: Open
-- refuses two migrations with one number, so it cannot be forgotten.
SELECT 1;
