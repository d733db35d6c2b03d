-- Placeholder for migration 0007, which branch sched adds: migrations must be
-- numbered without gaps, and this branch's 0008 follows it. The lead
-- deletes this file when merging that branch (its own 0007 file sorts
-- first and is the one applied).
SELECT 1;
