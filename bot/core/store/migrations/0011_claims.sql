-- 11: who holds a task's claim and until when (issue 21: several processes on one database).
-- A process that moves a task to submitting, completed or delivering writes its identity and
-- a lease end (its clock, seconds since the epoch), renewed while it works; a claim whose
-- lease ran out is a dead process's and another takes it over. The sweep reads rows by
-- status, which index tasks_by_status (status, id) already serves. Rows claimed before this
-- migration have no lease: they count as expired.
ALTER TABLE tasks ADD COLUMN claimed_by TEXT;
ALTER TABLE tasks ADD COLUMN lease_until DOUBLE PRECISION;
