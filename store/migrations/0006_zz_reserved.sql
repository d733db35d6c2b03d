-- Placeholder for migration 0006, which branch dsn adds: migrations must be
-- numbered without gaps, and this branch's 0008 follows it. The lead
-- deletes this file when merging that branch (its own 0006 file sorts
-- first and is the one applied).
SELECT 1;
