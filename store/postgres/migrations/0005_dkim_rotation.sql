-- Pillarbox schema for PostgreSQL, version 5: DKIM key rotation (SQLite's
-- 0005_dkim_rotation.sql). A key may now be 'pending' (made, published
-- by the operator, not yet signing); changed is when the state last
-- changed, the key's creation for keys made before. SQLite rebuilt the
-- table to change the CHECK; here the constraint is replaced, and the ids
-- and their sequence stay as they are.
ALTER TABLE dkim_keys DROP CONSTRAINT dkim_keys_state;
ALTER TABLE dkim_keys ADD CONSTRAINT dkim_keys_state CHECK (state IN ('pending', 'active', 'retiring'));
ALTER TABLE dkim_keys ADD COLUMN changed bigint;
UPDATE dkim_keys SET changed = created;
ALTER TABLE dkim_keys ALTER COLUMN changed SET NOT NULL;
